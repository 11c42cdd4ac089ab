package auth

import (
	"math"
	"sync/atomic"
	"time"
)

// clockTick is how often the clock read on the cache-hit path advances.
// time.Now on every check was a large share of a cached token check
// (BenchmarkVerifyCached in auth_timing_test.go measures the check), for a
// precision the hit path does not need.
const clockTick = 250 * time.Millisecond

// cacheMargin shortens every cache entry by the most the coarse clock can lag
// (a tick, plus another for a late ticker), so that a stale clock never
// serves a token past its exp or CacheTTL.
const cacheMargin = 2 * clockTick

// coarseClock is time.Now in Unix ns, refreshed every clockTick.
type coarseClock struct{ ns atomic.Int64 }

func newCoarseClock() *coarseClock {
	c := &coarseClock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}

func (c *coarseClock) run(stop <-chan struct{}) {
	t := time.NewTicker(clockTick)
	defer t.Stop()
	for {
		select {
		case <-stop:
			// A stopped clock must not freeze time for the cache: from now
			// on every entry looks expired, and VerifyBearer checks tokens in full.
			c.ns.Store(math.MaxInt64)
			return
		case <-t.C:
			c.ns.Store(time.Now().UnixNano())
		}
	}
}
