package cache

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tiercel/tiercel/internal/testredis"
	"github.com/tiercel/tiercel/internal/testwait"
)

// pauseWrites makes rdb's server hold every write command, scripts
// included, until unpaused (CLIENT PAUSE ... WRITE, Redis 6.2+), while
// reads go on: a generation bump that cannot land, next to L2 reads that
// still answer. The pause ends at the latest when the test does.
func pauseWrites(t testing.TB, rdb *redis.Client) (unpause func()) {
	t.Helper()
	ctx := context.Background()
	if err := rdb.Do(ctx, "client", "pause", 30_000, "write").Err(); err != nil {
		t.Fatalf("CLIENT PAUSE: %v", err)
	}
	unpause = func() {
		if err := rdb.Do(ctx, "client", "unpause").Err(); err != nil {
			t.Errorf("CLIENT UNPAUSE: %v", err)
		}
	}
	t.Cleanup(unpause)
	return unpause
}

// TestInvalidateOutlivesItsCaller: an invalidation whose caller's deadline
// ends before its generation bump lands (a write's budget, RFC 9111 §4.4:
// the cache MUST invalidate the target URI after a successful unsafe
// request) is not dropped: the bump goes on in the background and lands
// once Redis takes writes again, and meanwhile this process serves no L2
// entry of the invalidated tag or key filled before it (read-your-writes),
// nor writes a fill to L2 under generations that predate the bump.
func TestInvalidateOutlivesItsCaller(t *testing.T) {
	for _, name := range []string{"tag", "key"} {
		t.Run(name, func(t *testing.T) {
			srv := testredis.Start(t)
			rdb := redisClient(t, srv)
			clk := newClock()
			cfg := testConfig()
			cfg.InvalidateTimeout = 20 * time.Second // the pause, not this, ends the bump
			c := newTiered(t, cfg, redisClient(t, srv), clk)
			other := newTiered(t, cfg, redisClient(t, srv), clk)
			f := newFiller(clk, "v%d")
			tags := []string{"t"}
			expect(t, fetch(t, c, "k", tags, clk.Now(), f), OutcomeMiss, "v1")
			testwait.For(t, 10*time.Second, "the L2 write", func() bool { return c.Stats().L2Writes == 1 })
			genKey, inv := "tiercel:tg:t", Invalidation{ID: "evt-1", Tags: tags}
			if name == "key" {
				genKey, inv = keyGenName("tiercel:", "k"), Invalidation{ID: "evt-1", Keys: [][]byte{[]byte("k")}}
			}
			gen := func() string { return rdb.Get(context.Background(), genKey).Val() }
			before := gen()

			unpause := pauseWrites(t, rdb)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			start := time.Now()
			_, err := c.Invalidate(ctx, inv)
			cancel()
			if err == nil {
				t.Fatal("Invalidate reported its L2 part done while Redis held every write")
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("Invalidate took %v, past its caller's deadline", d)
			}
			// L2 still answers reads: its entry predates the invalidation.
			res := fetch(t, c, "k", tags, clk.Now(), f)
			if string(res.Entry.Value) == "v1" {
				t.Fatalf("served the L2 entry filled before the invalidation: %s", res.Outcome)
			}
			expect(t, res, OutcomeMiss, "v2")
			if st := c.Stats(); st.L2Writes != 1 || st.L2Pending == 0 {
				t.Fatalf("while the bump is pending: %d L2 writes (want 1), %d pending", st.L2Writes, st.L2Pending)
			}

			unpause()
			testwait.For(t, 10*time.Second, "the bump to land in Redis", func() bool { return gen() != before })
			testwait.For(t, 10*time.Second, "the bump to be confirmed", func() bool { return c.Stats().L2Pending == 0 })
			// Another process that never heard of the invalidation misses too.
			expect(t, fetch(t, other, "k", tags, clk.Now(), f), OutcomeMiss, "v3")
			// Confirmed: L2 serves this process again.
			testwait.For(t, 10*time.Second, "the L2 write", func() bool { return other.Stats().L2Writes == 1 })
			expect(t, fetch(t, c, "k2", tags, clk.Now(), f), OutcomeMiss, "v4")
			testwait.For(t, 10*time.Second, "the L2 write", func() bool { return c.Stats().L2Writes == 2 })
			c2 := newTiered(t, cfg, redisClient(t, srv), clk)
			expect(t, fetch(t, c2, "k", tags, clk.Now(), f), OutcomeHitL2, "v3")
		})
	}
}

// Marks go when their own bump, or a later one of the same name, is
// confirmed, or when they are TombstoneTTL old; past MaxTombstones the
// oldest goes early and every L2 entry counts as pending for its lifetime.
func TestPendingMarks(t *testing.T) {
	at := time.Unix(1000, 0)
	fe := newFence(time.Minute, 3)
	pending := func(now time.Time, key string, tags ...string) bool {
		return (&Tiered{fence: fe, now: func() time.Time { return now }}).l2Pending([]byte(key), tags)
	}
	s1 := fe.invalidatePending(at, [][]byte{[]byte("k")}, []string{"t"})
	s2 := fe.invalidatePending(at, nil, []string{"t"})
	if !pending(at, "k") || !pending(at, "x", "t") || pending(at, "x", "u") {
		t.Fatal("marks wrong")
	}
	fe.confirm(at, [][]byte{[]byte("k")}, []string{"t"}, s1)
	if pending(at, "k") || !pending(at, "x", "t") {
		t.Fatal("s1's confirmation must clear k, and leave t to the later s2")
	}
	fe.confirm(at, nil, []string{"t"}, s2)
	if fe.pendingSize() != 0 || fe.anyPending.Load() {
		t.Fatalf("%d marks left", fe.pendingSize())
	}
	// A later confirmation covers an earlier invalidation that never was.
	fe.invalidatePending(at, nil, []string{"t"})
	s4 := fe.invalidatePending(at, nil, []string{"t"})
	fe.confirm(at, nil, []string{"t"}, s4)
	if pending(at, "x", "t") {
		t.Fatal("t still pending after a later bump of it was confirmed")
	}
	// Expiry: a bump that never lands stops counting after the TTL.
	fe.invalidatePending(at, nil, []string{"lost"})
	if !pending(at.Add(59*time.Second), "x", "lost") || pending(at.Add(61*time.Second), "x", "lost") {
		t.Fatal("a mark must count for its TTL, not beyond")
	}
	fe.invalidatePending(at.Add(2*time.Minute), nil, []string{"other"})
	if fe.pendingSize() != 1 {
		t.Fatalf("%d marks after expiry, want 1", fe.pendingSize())
	}
	// Bounded: the fourth live mark pushes the oldest out, and every
	// entry counts as pending until that one would have expired.
	later := at.Add(2 * time.Minute)
	for i := range 3 {
		fe.invalidatePending(later, [][]byte{{byte('a' + i)}}, nil)
	}
	if fe.pendingSize() != 3 || !pending(later, "unrelated") || pending(later.Add(61*time.Second), "unrelated") {
		t.Fatalf("bound: %d marks, unrelated pending %v", fe.pendingSize(), pending(later, "unrelated"))
	}
	// The queue follows the live marks, not every invalidation ever made.
	for i := range 1000 {
		s := fe.invalidatePending(later, nil, []string{"churn"})
		fe.confirm(later, nil, []string{"churn"}, s)
		_ = i
	}
	if n := len(fe.pend.queue) - fe.pend.head; n > 200 {
		t.Fatalf("%d queued marks for 3 live ones", n)
	}
}

// Close waits for an L2 invalidation that outlived its caller, within its
// InvalidateTimeout, and leaves no goroutine behind; Done reports how it
// ended.
func TestCloseWaitsForDetachedInvalidation(t *testing.T) {
	srv := testredis.Start(t)
	rdb := redisClient(t, srv)
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	base := runtime.NumGoroutine()
	cfg := testConfig()
	cfg.InvalidateTimeout = 200 * time.Millisecond
	c, err := New(cfg, rdb, nil)
	if err != nil {
		t.Fatal(err)
	}
	pauseWrites(t, rdb)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	_, err = c.Invalidate(ctx, Invalidation{ID: "evt-1", Tags: []string{"t"}, Done: func(_ int, err error) { done <- err }})
	if !errors.Is(err, ErrL2Pending) {
		t.Fatalf("Invalidate = %v, want ErrL2Pending", err)
	}
	c.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Done reported a bump that Redis held as landed")
		}
	default:
		t.Fatal("Close returned before the detached bump ended")
	}
	waitGoroutines(t, base)
}
