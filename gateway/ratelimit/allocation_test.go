//go:build !race

package ratelimit

import (
	"testing"
	"time"
)

func TestAllowDoesNotAllocate(t *testing.T) {
	l := newLimiter(t, Config{MaxKeys: 10_000, Policies: map[string]Policy{
		"api": {Rate: 1e6, Burst: 1000, Tiers: map[string]Tier{"pro": {Rate: 1e7, Burst: 10_000}}},
	}}, nil)
	h := mustRoute(t, l, "/products", "api")
	key := []byte("alice")
	f := func(name string, call func(now time.Time) Decision) {
		t.Helper()
		now := t0
		call(now) // creates the bucket (and sets the tier): that may allocate
		if n := testing.AllocsPerRun(1000, func() {
			now = now.Add(time.Microsecond)
			call(now)
		}); n != 0 {
			t.Fatalf("%s: %v allocations per check on an existing key; want 0", name, n)
		}
	}
	f("Allow", func(now time.Time) Decision { return h.Allow(now, key, "") })
	f("Allow with tier", func(now time.Time) Decision { return h.Allow(now, key, "pro") })
	f("AllowCtx, local policy", func(now time.Time) Decision { return h.AllowCtx(t.Context(), now, key, "") })
}
