package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

// has reports whether the route holds a bucket for key, without touching it.
func (h *Handle) has(key string) bool {
	return h.store.shard([]byte(key)).get([]byte(key)) != nil
}

func TestSweepEvictsIdleKeys(t *testing.T) {
	l := newLimiter(t, Config{IdleTTL: time.Minute, Policies: map[string]Policy{"api": {Rate: 1, Burst: 3}}}, nil)
	products := mustRoute(t, l, "/products", "api")
	orders := mustRoute(t, l, "/orders", "api")
	for _, k := range []string{"idle", "busy"} {
		for range 3 {
			products.Allow(t0, []byte(k), "")
		}
	}
	orders.Allow(t0, []byte("idle"), "")
	products.Allow(t0.Add(30*time.Second), []byte("busy"), "")

	l.sweep(t0.Add(59 * time.Second))
	if s := l.Stats(); s.Evictions != 0 || s.LiveKeys != 3 {
		t.Fatalf("before IdleTTL: %+v; want nothing evicted", s)
	}
	l.sweep(t0.Add(time.Minute))
	if s := l.Stats(); s.Evictions != 2 || s.LiveKeys != 1 {
		t.Fatalf("after IdleTTL: %+v; want 2 evicted, 1 live", s)
	}
	if products.has("idle") || orders.has("idle") || !products.has("busy") {
		t.Fatalf("wrong keys evicted")
	}
	// An evicted key comes back with a full bucket, as it would have been by now.
	if d := products.Allow(t0.Add(time.Minute), []byte("idle"), ""); d.Remaining != 2 {
		t.Fatalf("evicted key came back with %+v; want a full bucket", d)
	}
	l.sweep(t0.Add(89 * time.Second))
	if !products.has("busy") {
		t.Fatalf("busy key evicted 59s after its last use")
	}
	l.sweep(t0.Add(90 * time.Second))
	if products.has("busy") {
		t.Fatalf("busy key not evicted 60s after its last use")
	}
}

func TestMaxKeysBound(t *testing.T) {
	f := func(maxKeys, inserts int) {
		t.Helper()
		l := newLimiter(t, Config{MaxKeys: maxKeys, Policies: map[string]Policy{"api": {Rate: 1}}}, nil)
		h := mustRoute(t, l, "/products", "api")
		for i := range inserts {
			h.Allow(t0.Add(time.Duration(i)), fmt.Appendf(nil, "ip-%d", i), "")
			if live := l.Stats().LiveKeys; live > int64(maxKeys) {
				t.Fatalf("MaxKeys %d: %d live keys after %d inserts", maxKeys, live, i+1)
			}
		}
		s := l.Stats()
		if s.Evictions != uint64(inserts)-uint64(s.LiveKeys) {
			t.Fatalf("MaxKeys %d: %+v; evictions and live keys do not add up to %d", maxKeys, s, inserts)
		}
		// Per-shard bounds may start evicting a little early, never much.
		if inserts >= 2*maxKeys && s.LiveKeys < int64(maxKeys)/2 {
			t.Fatalf("MaxKeys %d: only %d live keys after %d inserts", maxKeys, s.LiveKeys, inserts)
		}
	}
	f(1, 10)
	f(100, 1000)
	f(1000, 5000) // several shards
	f(10_000, 30_000)
}

func TestMaxKeysEvictsIdleFirst(t *testing.T) {
	// 64 keys fit one shard, so which key goes is deterministic.
	l := newLimiter(t, Config{MaxKeys: 64, IdleTTL: time.Minute, Policies: map[string]Policy{"api": {Rate: 1}}}, nil)
	h := mustRoute(t, l, "/products", "api")
	for i := range 64 {
		h.Allow(t0, fmt.Appendf(nil, "k%d", i), "")
	}
	later := t0.Add(2 * time.Minute)
	for i := 1; i < 64; i++ {
		h.Allow(later, fmt.Appendf(nil, "k%d", i), "")
	}
	h.Allow(later, []byte("new"), "")
	if h.has("k0") || !h.has("new") {
		t.Fatalf("the idle key k0 should have made room for the new key")
	}
	for i := 1; i < 64; i++ {
		if !h.has(fmt.Sprintf("k%d", i)) {
			t.Fatalf("active key k%d evicted while an idle key was there", i)
		}
	}
}

func TestMaxKeysFloodSparesHotKey(t *testing.T) {
	// A flood of one-off keys into a full shard with nothing idle: the
	// sampled eviction must keep evicting flood keys, never the hot one,
	// whose bucket would otherwise come back full.
	l := newLimiter(t, Config{MaxKeys: 64, Policies: map[string]Policy{"api": {Rate: 0.001, Burst: 3}}}, nil)
	h := mustRoute(t, l, "/products", "api")
	for range 3 {
		h.Allow(t0, []byte("hot"), "")
	}
	for i := range 2000 {
		now := t0.Add(time.Duration(i+1) * time.Millisecond)
		if h.Allow(now, []byte("hot"), "").Allowed {
			t.Fatalf("hot key allowed again after %d flood keys: its bucket was evicted", i)
		}
		h.Allow(now, fmt.Appendf(nil, "flood-%d", i), "")
	}
}
