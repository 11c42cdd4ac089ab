package cache

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tiercel/tiercel/internal/batch"
	"github.com/tiercel/tiercel/internal/breaker"
)

// Tiered is the two-tier cache: L1 in process, L2 in Redis, fills coalesced
// per key. All methods are safe for concurrent use.
type Tiered struct {
	cfg   Config
	l1    *l1
	l2    *l2 // nil: L1 only
	fence *fence
	st    stats
	log   *slog.Logger

	timers timerPool // for waits bounded by Request.Deadline (joiners, a request leaving its L2 read early)

	// now, when set, replaces the wall clock used when Request.Now is zero
	// and for tombstones: tests walk entries through their windows with it
	// instead of sleeping. Nil in production, where clock reuses a reading
	// already taken (a time.Now per lookup shows on the hit path that
	// BenchmarkFetchL1Hit in cache_timing_test.go measures).
	now func() time.Time

	mu      sync.Mutex
	flights map[string]*flight   // in-flight fills and refreshes by key
	retires *batch.Loop[*flight] // finished flights, for retireBatch
	closed  bool                 // under mu, so no flight starts after Close
	done    atomic.Bool          // closed, readable without mu on the hit path

	// ctx parents every fill, so that Close cancels them; it never derives
	// from a request's context, which may be a pooled fasthttp RequestCtx.
	ctx    context.Context
	cancel context.CancelFunc
	stop   chan struct{}
	wg     sync.WaitGroup

	// bumps bounds the L2 invalidations in flight (invalidate.go); Close
	// waits for them rather than cancelling them: each is bounded by
	// InvalidateTimeout, and may be the only record of a write's
	// invalidation in L2.
	bumps chan struct{}

	// testHookInvalidate runs between the local and the L2 part of an
	// invalidation: the window the fence must also cover.
	testHookInvalidate func()
}

// Request describes one lookup.
type Request struct {
	// Key is the full cache key. It is copied before anything keeps it, so
	// it may point into a pooled request.
	Key []byte

	// Tags are the surrogate keys an entry filled for this request will be
	// invalidated by. They must be known before the fill (the gateway derives
	// them from the route's tag templates): their generations are read with
	// the L2 lookup, before the fill starts. The slice is copied like Key;
	// the strings must be ordinary immutable strings (not unsafe views of
	// pooled buffers).
	Tags []string

	// Deadline, when set, bounds Fetch like a deadline on its context would,
	// without deriving a context per request: Fetch waits with a pooled
	// timer, and only when it must wait.
	Deadline time.Time

	// Now is the request's time (zero: the cache's clock). Deriving it once
	// at the edge keeps every freshness decision of a request consistent.
	Now time.Time

	// FillTimeout bounds the fill this request may start (zero:
	// Config.FillTimeout). It is the fill's own deadline, not the request's:
	// the fill goes on after its waiters have left, to serve later requests.
	FillTimeout time.Duration

	// L1Missed says the caller's Get found no entry for Key just now (ok
	// false; a Kept entry is an entry): Fetch starts at L2 instead of asking
	// L1 again. An entry stored in between costs an L2 read, never a wrong
	// answer.
	L1Missed bool

	// MakeFill makes the FillFunc, only when this request may need one: to
	// fill after an L2 miss, or to refresh a stale entry; never on an L1 or
	// fresh L2 hit, nor when the request joins another's fill. It is called
	// at most once, on the caller's goroutine, before Fetch returns, so it
	// may read the caller's request (the FillFunc it returns may not).
	// Without it, a fill fails.
	MakeFill func() FillFunc
}

// FillFunc produces the entry for key on a miss, or on a background refresh
// of a stale entry. It runs on a goroutine of its own, possibly after the
// request that supplied it has returned, and its result serves other
// requests: it must not capture pooled request objects (fasthttp's
// RequestCtx, its byte slices, pooled buffers). Copy what it needs first.
//
// old, when not nil, is the most recent entry known for key that the fill
// may revalidate (RFC 9111 §4.3): not fresh (Stale, Expired or Kept), never
// one an invalidation applied in this process has overtaken (an invalidated
// entry is not to be trusted, not even as the base of a conditional
// request), and the newer by StoredAt of what L1 and L2 held when the flight
// started; for a background refresh, at least as new as the stale entry it
// refreshes. old is shared with other readers and read-only: the fill may
// build a conditional request from it, and on a 304 return a new Entry that
// shares old's Value (neither is ever modified) with Revalidated set, but it
// must never modify or return old itself.
//
// It must return soon after ctx is done. key belongs to the cache and must
// not be modified. The cache takes ownership of the returned Entry and sets
// its Key and Tags; an Entry whose windows have all passed is returned to the
// waiters but not stored, which suits uncacheable responses.
type FillFunc func(ctx context.Context, key []byte, old *Entry) (*Entry, error)

// Outcome tells how a Fetch was answered.
type Outcome uint8

const (
	OutcomeHitL1       Outcome = iota + 1 // fresh from L1
	OutcomeHitL2                          // fresh from L2
	OutcomeMiss                           // filled
	OutcomeStale                          // stale, refresh in background
	OutcomeStaleError                     // expired, served because the fill failed or timed out
	OutcomeRevalidated                    // filled: the fill's old entry, confirmed by the origin (Entry.Revalidated)
)

var outcomeNames = [...]string{
	OutcomeHitL1: "HIT-L1", OutcomeHitL2: "HIT-L2", OutcomeMiss: "MISS",
	OutcomeStale: "STALE", OutcomeStaleError: "STALE-ERROR", OutcomeRevalidated: "REVALIDATED",
}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) && outcomeNames[o] != "" {
		return outcomeNames[o]
	}
	return fmt.Sprintf("Outcome(%d)", uint8(o))
}

// Result is the answer of Fetch. The durations feed Server-Timing: L2 and
// Fill are those of the (possibly shared) fill the request waited for.
type Result struct {
	Entry     *Entry
	Outcome   Outcome
	Coalesced bool // joined a fill another request had started
	L1        time.Duration
	L2        time.Duration
	Fill      time.Duration
}

// New returns a cache. l2 nil means L1 only. The Redis client should have
// ContextTimeoutEnabled, or a hung Redis holds the batcher for its
// ReadTimeout (requests still leave after L2Timeout). logger nil discards.
func New(cfg Config, l2 redis.UniversalClient, logger *slog.Logger) (*Tiered, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cannot create cache: %w", err)
	}
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Tiered{
		cfg:     cfg,
		fence:   newFence(cfg.TombstoneTTL, cfg.MaxTombstones),
		log:     logger,
		flights: map[string]*flight{},
		stop:    make(chan struct{}),
		bumps:   make(chan struct{}, cfg.L2QueueSize),
	}
	var err error
	if c.l1, err = newL1(cfg.L1MaxBytes, cfg.L1Counters, &c.st, false); err != nil {
		return nil, fmt.Errorf("cannot create cache: %w", err)
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	// Yield: let more flights finish before a batch is taken, as the L2
	// batcher does (readLoop).
	c.retires = batch.Start(batch.Config{Queue: cfg.L2QueueSize, Max: 64, Yield: true}, c.retireBatch)
	if l2 != nil {
		warnWithoutContextTimeout(l2, logger)
		c.l2 = newL2(cfg, l2, &c.st, &c.timers, logger, c.stop)
		c.goTracked(c.l2.readLoop)
	}
	return c, nil
}

func (c *Tiered) goTracked(f func()) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
}

// goUnlessClosed runs f on a goroutine Close waits for, unless Close has
// begun (then it reports false and runs nothing): the WaitGroup must not
// grow while Close waits on it.
func (c *Tiered) goUnlessClosed(f func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.goTracked(f)
	return true
}

func warnWithoutContextTimeout(rdb redis.UniversalClient, log *slog.Logger) {
	enabled := true
	switch r := rdb.(type) {
	case *redis.Client:
		enabled = r.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		enabled = r.Options().ContextTimeoutEnabled
	}
	if !enabled {
		log.Warn("cache: redis client without ContextTimeoutEnabled: a hung redis stalls L2 reads for the client's ReadTimeout")
	}
}

// Close stops background refreshes, fills in flight, the L2 batcher and
// writer, and waits for all of them. Pending L2 writes are dropped. Calls
// after Close return ErrClosed (Fetch) or miss (Get).
func (c *Tiered) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.done.Store(true)
	c.mu.Unlock()
	c.cancel()
	if c.l2 != nil {
		c.l2.q.close() // answers the L2 reads waited for
	}
	close(c.stop)
	c.retires.Close()
	if c.l2 != nil {
		c.l2.writes.Close()
	}
	c.wg.Wait()
	c.l1.close()
}

// Wait blocks until the L1 writes of the Fetch calls returned so far are
// applied. L1 writes are asynchronous (made by the retire loop, and
// ristretto's Set is itself asynchronous): tests and tools that must see a
// write call Wait; the request path never does.
func (c *Tiered) Wait() {
	if c.done.Load() {
		return
	}
	b := &flight{barrier: make(chan struct{})}
	if !c.retires.Put(b) {
		return
	}
	select {
	case <-b.barrier:
	case <-c.retires.Stopped():
	}
}

// Get looks key up in L1 only, allocating nothing. ok is false when there is
// no entry (absent, gone or invalidated); otherwise the Freshness says how
// it may be served. A Kept entry (ok, fr == Kept) must not be served at all:
// it only tells the caller that Fetch has a revalidation base for the key,
// so the caller must not set Request.L1Missed. Get counts a Fresh result as
// an L1 hit and starts nothing: callers serve only Fresh from Get and use
// Fetch otherwise, which refreshes a stale entry and revalidates a kept one.
// The entry is shared and read-only.
func (c *Tiered) Get(key []byte, now time.Time) (e *Entry, fr Freshness, ok bool) {
	if c.done.Load() {
		return nil, Gone, false
	}
	e, fr = c.lookupL1(key, now)
	if fr == Fresh {
		// Callers serve a fresh Get as is (the gateway's hot path does):
		// count it like Fetch counts its L1 hits.
		c.st.l1Hits.Add(1)
	}
	return e, fr, e != nil
}

// clock returns the cache's time, given a wall clock reading just taken.
func (c *Tiered) clock(wall time.Time) time.Time {
	if c.now != nil {
		return c.now()
	}
	return wall
}

func (c *Tiered) lookupL1(key []byte, now time.Time) (*Entry, Freshness) {
	e := c.l1.get(key, now)
	if e == nil {
		return nil, Gone
	}
	fr := e.Freshness(now)
	if fr == Gone || !c.fence.validEntry(e) {
		return nil, Gone
	}
	return e, fr
}

// Stats returns a snapshot of the counters.
func (c *Tiered) Stats() Stats {
	s := c.st.snapshot()
	s.Tombstones = uint64(c.fence.size())
	s.L2Pending = uint64(c.fence.pendingSize())
	return s
}

// L2State reports the Redis tier for readiness checks: "disabled" (L1
// only), or the breaker state "closed" (in use), "open" (skipped) or
// "half-open" (probing).
func (c *Tiered) L2State() string {
	if c.l2 == nil {
		return "disabled"
	}
	if st := c.l2.cb.State(); st != breaker.Disabled {
		return st.String()
	}
	return "closed" // no breaker (failures < 0): Redis is always in use
}
