//go:build !race

package cache

import (
	"context"
	"testing"
	"time"
)

// The L1-hit path runs on every gateway request: it must not allocate.
func TestL1HitAllocatesNothing(t *testing.T) {
	clk := newClock()
	c := newTiered(t, testConfig(), nil, clk)
	f := newFiller(clk, "value")
	makeFill := fillWith(f.fill) // long-lived, as a hot caller keeps it
	tags := []string{"user:1", "users"}
	fetch(t, c, "GET /users/1", tags, clk.Now(), f)
	settle(t, c)
	// An invalidation of something else: hits then take the tombstone path.
	if _, err := c.Invalidate(context.Background(), Invalidation{Tags: []string{"other"}}); err != nil {
		t.Fatal(err)
	}
	fetch(t, c, "GET /users/2", tags, clk.Now(), f)
	settle(t, c)

	for _, key := range []string{"GET /users/1", "GET /users/2"} {
		req := Request{Key: []byte(key), Tags: tags, Now: clk.Now(), MakeFill: makeFill}
		ctx := context.Background()
		if n := testing.AllocsPerRun(1000, func() {
			if _, _, ok := c.Get(req.Key, req.Now); !ok {
				t.Fatal("Get missed")
			}
		}); n != 0 {
			t.Fatalf("Get(%s): %v allocs per hit", key, n)
		}
		if n := testing.AllocsPerRun(1000, func() {
			if res, err := c.Fetch(ctx, req); err != nil || res.Outcome != OutcomeHitL1 {
				t.Fatalf("Fetch: %s %v", res.Outcome, err)
			}
		}); n != 0 {
			t.Fatalf("Fetch(%s): %v allocs per L1 hit", key, n)
		}
	}

	// Get of a kept entry (the gateway then calls Fetch, which revalidates).
	f.set(func(f *filler) { f.fresh, f.keep = 0, time.Hour })
	fetch(t, c, "GET /kept", tags, clk.Now(), f)
	settle(t, c)
	now, key := clk.Advance(time.Second), []byte("GET /kept")
	if n := testing.AllocsPerRun(1000, func() {
		if _, fr, ok := c.Get(key, now); !ok || fr != Kept {
			t.Fatalf("Get: %s, %v", fr, ok)
		}
	}); n != 0 {
		t.Fatalf("Get of a kept entry: %v allocs", n)
	}
}

// Every L2 hit asks whether its key or a tag has an invalidation whose L2
// part is pending: one atomic load when none has, and no allocation either
// way.
func TestL2PendingCheckAllocatesNothing(t *testing.T) {
	fe := newFence(time.Hour, 100)
	c := &Tiered{fence: fe}
	key, tags := []byte("GET /users/1"), []string{"user:1", "users"}
	check := func(want bool) {
		t.Helper()
		if n := testing.AllocsPerRun(1000, func() {
			if c.l2Pending(key, tags) != want {
				t.Fatalf("l2Pending: want %v", want)
			}
		}); n != 0 {
			t.Fatalf("l2Pending (want %v): %v allocs", want, n)
		}
	}
	check(false)
	now := time.Now()
	seq := fe.invalidatePending(now, nil, []string{"users"})
	check(true)
	fe.confirm(now, nil, []string{"users"}, seq)
	check(false)
	if fe.anyPending.Load() {
		t.Fatal("confirmed, yet the fast path still takes the lock")
	}
}
