package ratelimit

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"

	"github.com/tiercel/tiercel/internal/breaker"
	"github.com/tiercel/tiercel/internal/redisconn"
)

// errClosed answers Redis calls made after Close; it is not Redis' fault,
// so the breaker ignores it.
var errClosed = errors.New("rate limiter is closed")

// AllowCtx is Allow for cluster policies: the budget is shared by every
// gateway instance through Redis. For local policies, or without Redis, it is
// Allow. The Redis call is bounded by ctx's deadline and Config.RedisTimeout,
// whichever is sooner; on error, timeout or while the breaker is open the
// local bucket answers with Fallback set, so each instance then allows the
// whole budget on its own: degraded, never closed.
func (h *Handle) AllowCtx(ctx context.Context, now time.Time, key []byte, tier string) Decision {
	if !h.cluster {
		return h.Allow(now, key, tier)
	}
	l := h.policy.forTier(tier)
	res, err := h.l.allowRedis(ctx, h.redisPrefix+string(key), l.redis)
	if err != nil {
		h.l.fallbacks.Add(1)
		d := h.Allow(now, key, tier)
		d.Fallback = true
		return d
	}
	d := Decision{
		Allowed:   res.Allowed > 0,
		Limit:     l.burst,
		Remaining: res.Remaining,
		Reset:     max(res.ResetAfter, 0),
	}
	if d.Allowed {
		h.l.clusterAllowed.Add(1)
	} else {
		h.l.clusterRejected.Add(1)
		d.RetryAfter = max(res.RetryAfter, 0)
	}
	return d
}

// RedisState is the Redis breaker's state for readiness checks: "closed"
// (healthy, or no breaker: Config.Breaker.Failures < 0), "open",
// "half-open", or "disabled" without Redis. An open breaker does not make
// the gateway unready: limits are still enforced locally.
func (l *Limiter) RedisState() string {
	if l.rdb == nil {
		return "disabled"
	}
	if st := l.cb.State(); st != breaker.Disabled {
		return st.String()
	}
	return "closed"
}

func newBreaker(cfg breaker.Config, logger *slog.Logger) *breaker.Breaker {
	return breaker.New(cfg, breaker.Options{
		Name: "ratelimit-redis",
		// Calls after Close are not Redis' fault.
		Exclude: func(err error) bool { return errors.Is(err, errClosed) },
		OnStateChange: func(from, to breaker.State) {
			if to == breaker.Open {
				logger.Warn("redis unavailable: cluster rate limits answered locally", "breaker", "ratelimit-redis", "from", from.String())
				return
			}
			logger.Info("redis rate limit breaker state changed", "breaker", "ratelimit-redis", "from", from.String(), "to", to.String())
		},
	})
}

// allowRedis runs one GCRA check through the breaker within the budget.
// The breaker reads the call's error as redisconn.Failure does; the caller
// gets it as is, and answers locally on any error.
func (l *Limiter) allowRedis(ctx context.Context, key string, lim redis_rate.Limit) (*redis_rate.Result, error) {
	if ctx.Err() != nil {
		return nil, ctx.Err() // no budget left: do not spend a Redis call on it
	}
	ctx, cancel := context.WithTimeout(ctx, l.cfg.RedisTimeout)
	defer cancel()
	var res *redis_rate.Result
	var callErr error
	err := l.cb.Do(func() error {
		res, callErr = l.callRedis(ctx, key, lim)
		return redisconn.Failure(callErr)
	})
	if err == breaker.ErrOpen {
		return nil, err
	}
	if callErr != nil {
		l.redisErrors.Add(1)
	}
	return res, callErr
}

// callRedis waits for the call at most until ctx is done. go-redis only
// honours a context deadline on the socket with ContextTimeoutEnabled, so the
// call runs in its own goroutine and is abandoned, not waited for, when the
// budget runs out; the breaker bounds how many can be abandoned at once.
func (l *Limiter) callRedis(ctx context.Context, key string, lim redis_rate.Limit) (*redis_rate.Result, error) {
	if !l.calls.start() {
		return nil, errClosed
	}
	type result struct {
		res *redis_rate.Result
		err error
	}
	done := make(chan result, 1) // buffered: an abandoned call must not block
	go func() {
		defer l.calls.done()
		res, err := l.gcra.Allow(ctx, key, lim)
		done <- result{res, err}
	}()
	select {
	case r := <-done:
		return r.res, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// calls tracks Redis calls in flight so that Close can wait for them; once
// closed it refuses new ones, as a WaitGroup must not grow while waited on.
type calls struct {
	mu     sync.RWMutex
	closed bool
	wg     sync.WaitGroup
}

func (c *calls) start() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return false
	}
	c.wg.Add(1)
	return true
}

func (c *calls) done() { c.wg.Done() }

func (c *calls) closeAndWait() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.wg.Wait()
}
