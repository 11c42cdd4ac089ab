package ratelimit

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/tiercel/tiercel/internal/breaker"
)

// ErrUnknownPolicy is returned by Limiter.Route for a policy not in Config.
var ErrUnknownPolicy = errors.New("unknown rate limit policy")

// minSweepInterval stops a tiny IdleTTL from turning the sweeper into a
// busy loop; eviction on insert still keeps MaxKeys meanwhile.
const minSweepInterval = time.Second

// Limiter owns the routes' buckets, the Redis breaker and the goroutine that
// evicts idle keys. Create it with New and stop it with Close.
type Limiter struct {
	cfg      Config
	policies map[string]*policy
	logger   *slog.Logger

	rdb  redis.UniversalClient // nil: every policy is local
	gcra *redis_rate.Limiter
	cb   *breaker.Breaker // around rdb

	mu sync.Mutex
	// routes and policies are guarded by mu; Route and Update are not on
	// the hot path (Handles keep their own policy).
	routes map[string]*Handle

	// Cluster answers are counted here, local ones in the shards, where the
	// hot path already writes.
	clusterAllowed  atomic.Uint64
	clusterRejected atomic.Uint64
	redisErrors     atomic.Uint64
	fallbacks       atomic.Uint64
	// retired* are the counters of Handles Update took out of the route
	// table, so that Stats never goes down.
	retiredAllowed   atomic.Uint64
	retiredRejected  atomic.Uint64
	retiredEvictions atomic.Uint64

	calls calls

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// Stats are cumulative counters since New, except LiveKeys.
type Stats struct {
	Allowed     uint64 // requests allowed, local and cluster
	Rejected    uint64 // requests denied, local and cluster
	RedisErrors uint64 // Redis calls that failed or ran out of time
	Fallbacks   uint64 // cluster-policy requests answered locally
	Evictions   uint64 // buckets evicted, idle or over MaxKeys
	LiveKeys    int64  // buckets held now, all routes
}

// New validates cfg and starts the idle-key sweeper. rdb may be nil, which
// makes every policy local; the Limiter does not close it. logger may be nil.
//
// For Redis calls to give up their connection at RedisTimeout, rdb should
// have ContextTimeoutEnabled: without it go-redis waits up to ReadTimeout in
// the background, though the request itself is answered at the budget.
func New(cfg Config, rdb redis.UniversalClient, logger *slog.Logger) (*Limiter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cannot create rate limiter: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	l := &Limiter{
		cfg:      cfg.withDefaults(),
		policies: make(map[string]*policy, len(cfg.Policies)),
		logger:   logger,
		rdb:      rdb,
		routes:   make(map[string]*Handle),
		stop:     make(chan struct{}),
	}
	for name, p := range cfg.Policies {
		l.policies[name] = compilePolicy(p)
	}
	if rdb != nil {
		l.gcra = redis_rate.NewLimiter(rdb)
		l.cb = newBreaker(l.cfg.Breaker, logger)
	}
	l.wg.Add(1)
	go l.sweepLoop()
	return l, nil
}

// Route returns the Handle for route, limited by the named policy. Asking
// again for the same route and policy returns the same Handle, so buckets
// survive a caller that looks it up more than once.
func (l *Limiter) Route(route, policyName string) (*Handle, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, ok := l.policies[policyName] // under mu: Update replaces the map
	if !ok {
		return nil, fmt.Errorf("cannot limit route %q: %w %q", route, ErrUnknownPolicy, policyName)
	}
	if h, ok := l.routes[route]; ok {
		if h.policy != p {
			return nil, fmt.Errorf("cannot limit route %q with policy %q: it is already limited by %q", route, policyName, h.policyName)
		}
		return h, nil
	}
	h := newHandle(l, route, policyName, p)
	l.routes[route] = h
	return h, nil
}

// Stats returns the counters; they are read one by one, not as a snapshot.
func (l *Limiter) Stats() Stats {
	s := Stats{
		Allowed:     l.clusterAllowed.Load() + l.retiredAllowed.Load(),
		Rejected:    l.clusterRejected.Load() + l.retiredRejected.Load(),
		RedisErrors: l.redisErrors.Load(),
		Fallbacks:   l.fallbacks.Load(),
		Evictions:   l.retiredEvictions.Load(),
	}
	for _, h := range l.handles() {
		for i := range h.store.shards {
			sh := &h.store.shards[i]
			s.Allowed += sh.allowed.Load()
			s.Rejected += sh.rejected.Load()
			s.Evictions += sh.evictions.Load()
			s.LiveKeys += sh.live.Load()
		}
	}
	return s
}

// Close stops the sweeper and waits for Redis calls still running in the
// background. Handles must not be used after Close. Safe to call twice.
func (l *Limiter) Close() {
	l.closeOnce.Do(func() {
		close(l.stop)
		l.wg.Wait()
		l.calls.closeAndWait()
	})
}

func (l *Limiter) handles() []*Handle {
	l.mu.Lock()
	defer l.mu.Unlock()
	hs := make([]*Handle, 0, len(l.routes))
	for _, h := range l.routes {
		hs = append(hs, h)
	}
	return hs
}

func (l *Limiter) sweepLoop() {
	defer l.wg.Done()
	t := time.NewTicker(max(l.cfg.IdleTTL/4, minSweepInterval))
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case now := <-t.C:
			l.sweep(now)
		}
	}
}

// sweep evicts every route's keys idle at now. Tests call it directly.
func (l *Limiter) sweep(now time.Time) {
	for _, h := range l.handles() {
		h.store.sweep(now.UnixNano())
	}
}
