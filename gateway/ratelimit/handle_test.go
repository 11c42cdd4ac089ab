package ratelimit

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func localLimiter(t *testing.T) *Limiter {
	return newLimiter(t, Config{Policies: map[string]Policy{
		"api": {Rate: 1, Burst: 10, Tiers: map[string]Tier{
			"pro":  {Rate: 10, Burst: 100},
			"free": {Rate: 0.5, Burst: 2},
		}},
	}}, nil)
}

// check calls Allow and compares the whole Decision.
func check(t *testing.T, h *Handle, now time.Time, key, tier string, want Decision) {
	t.Helper()
	if got := h.Allow(now, []byte(key), tier); got != want {
		t.Fatalf("Allow(%s, %q, %q)\n got %+v\nwant %+v", now.Sub(t0), key, tier, got, want)
	}
}

func TestAllowBurstThenReject(t *testing.T) {
	h := mustRoute(t, localLimiter(t), "/products", "api")
	for i := 1; i <= 10; i++ {
		check(t, h, t0, "alice", "", Decision{
			Allowed: true, Limit: 10, Remaining: 10 - i, Reset: time.Duration(i) * time.Second,
		})
	}
	check(t, h, t0, "alice", "", Decision{
		Allowed: false, Limit: 10, Remaining: 0, Reset: 10 * time.Second, RetryAfter: time.Second,
	})
	if s := localLimiter(t).Stats(); s.Allowed != 0 {
		t.Fatalf("a fresh Limiter counts %d allowed", s.Allowed)
	}
}

func TestAllowRefill(t *testing.T) {
	h := mustRoute(t, localLimiter(t), "/products", "api")
	for range 10 {
		h.Allow(t0, []byte("alice"), "")
	}
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	// Half a token: still denied, and told to wait for the other half.
	check(t, h, at(500*time.Millisecond), "alice", "", Decision{
		Limit: 10, Reset: 9500 * time.Millisecond, RetryAfter: 500 * time.Millisecond,
	})
	check(t, h, at(time.Second), "alice", "", Decision{Allowed: true, Limit: 10, Reset: 10 * time.Second})
	// Long idle: the bucket refills to burst, never beyond.
	check(t, h, at(time.Hour), "alice", "", Decision{Allowed: true, Limit: 10, Remaining: 9, Reset: time.Second})
}

func TestAllowTiers(t *testing.T) {
	f := func(tier string, wantLimit, wantAllowed int, wantRetry time.Duration) {
		t.Helper()
		h := mustRoute(t, localLimiter(t), "/products", "api")
		allowed := 0
		var last Decision
		for range 200 {
			last = h.Allow(t0, []byte("alice"), tier)
			if last.Allowed {
				allowed++
			}
		}
		if allowed != wantAllowed || last.Limit != wantLimit || last.RetryAfter != wantRetry {
			t.Fatalf("tier %q: %d allowed, last %+v; want %d allowed, Limit %d, RetryAfter %s",
				tier, allowed, last, wantAllowed, wantLimit, wantRetry)
		}
	}
	f("", 10, 10, time.Second)
	f("unknown", 10, 10, time.Second)
	f("pro", 100, 100, 100*time.Millisecond)
	f("free", 2, 2, 2*time.Second)
}

func TestAllowRoutesAndKeysAreIndependent(t *testing.T) {
	l := localLimiter(t)
	products := mustRoute(t, l, "/products", "api")
	orders := mustRoute(t, l, "/orders", "api")
	for range 10 {
		products.Allow(t0, []byte("alice"), "")
	}
	if products.Allow(t0, []byte("alice"), "").Allowed {
		t.Fatalf("alice on /products: allowed past burst")
	}
	if !products.Allow(t0, []byte("bob"), "").Allowed {
		t.Fatalf("bob on /products: denied by alice's bucket")
	}
	if !orders.Allow(t0, []byte("alice"), "").Allowed {
		t.Fatalf("alice on /orders: denied by her /products bucket")
	}
	s := l.Stats()
	if s.Allowed != 12 || s.Rejected != 1 || s.LiveKeys != 3 {
		t.Fatalf("Stats() = %+v; want 12 allowed, 1 rejected, 3 live keys", s)
	}
}

func TestAllowTierChange(t *testing.T) {
	h := mustRoute(t, localLimiter(t), "/products", "api")
	check(t, h, t0, "alice", "free", Decision{Allowed: true, Limit: 2, Remaining: 1, Reset: 2 * time.Second})
	check(t, h, t0, "alice", "free", Decision{Allowed: true, Limit: 2, Reset: 4 * time.Second})
	check(t, h, t0, "alice", "free", Decision{Limit: 2, Reset: 4 * time.Second, RetryAfter: 2 * time.Second})

	// Upgrading keeps the empty bucket (no free refill) but refills at the
	// pro rate: one token after 100ms, not after 2s.
	check(t, h, t0, "alice", "pro", Decision{Limit: 100, Reset: 10 * time.Second, RetryAfter: 100 * time.Millisecond})
	at := t0.Add(100 * time.Millisecond)
	check(t, h, at, "alice", "pro", Decision{Allowed: true, Limit: 100, Reset: 10 * time.Second})

	// Downgrading caps the bucket at the smaller burst.
	at = t0.Add(time.Hour)
	check(t, h, at, "alice", "free", Decision{Allowed: true, Limit: 2, Remaining: 1, Reset: 2 * time.Second})
}

func TestAllowCopiesKey(t *testing.T) {
	h := mustRoute(t, localLimiter(t), "/products", "api")
	buf := []byte("alice")
	h.Allow(t0, buf, "")
	copy(buf, "mallo") // the caller reuses its buffer for the next request
	if d := h.Allow(t0, []byte("alice"), ""); d.Remaining != 8 {
		t.Fatalf("alice's bucket changed with the caller's buffer: %+v", d)
	}
}

func TestAllowConcurrentKeepsBudget(t *testing.T) {
	l := newLimiter(t, Config{Policies: map[string]Policy{"api": {Rate: 1, Burst: 50}}}, nil)
	h := mustRoute(t, l, "/products", "api")
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				// Alternate tiers on other keys so retier runs concurrently too.
				h.Allow(t0, []byte{'k', byte(g)}, []string{"", "x"}[i%2])
				if h.Allow(t0, []byte("shared"), "").Allowed {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if got := allowed.Load(); got != 50 {
		t.Fatalf("%d allowed on one key at one instant; want exactly the burst, 50", got)
	}
}

func TestAllowCtxLocalPolicy(t *testing.T) {
	h := mustRoute(t, localLimiter(t), "/products", "api")
	d := h.AllowCtx(t.Context(), t0, []byte("alice"), "")
	if !d.Allowed || d.Fallback || d.Remaining != 9 {
		t.Fatalf("AllowCtx without Redis = %+v; want a plain local decision", d)
	}
}
