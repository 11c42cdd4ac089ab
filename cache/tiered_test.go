package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tiercel/tiercel/internal/testredis"
	"github.com/tiercel/tiercel/internal/testwait"
)

func TestMissThenHitL1(t *testing.T) {
	for _, withRedis := range []bool{false, true} {
		t.Run(fmt.Sprintf("redis=%v", withRedis), func(t *testing.T) {
			clk := newClock()
			var c *Tiered
			if withRedis {
				c = newTiered(t, testConfig(), redisClient(t, testredis.Start(t)), clk)
			} else {
				c = newTiered(t, testConfig(), nil, clk)
			}
			f := newFiller(clk, "v%d")
			expect(t, fetch(t, c, "k", nil, clk.Now(), f), OutcomeMiss, "v1")
			settle(t, c)
			res := fetch(t, c, "k", nil, clk.Now(), f)
			expect(t, res, OutcomeHitL1, "v1")
			if e, fr, ok := c.Get([]byte("k"), clk.Now()); !ok || fr != Fresh || string(e.Value) != "v1" {
				t.Fatalf("Get = %v, %s, %v", e, fr, ok)
			}
			if _, _, ok := c.Get([]byte("other"), clk.Now()); ok {
				t.Fatalf("Get(other) hit")
			}
			if n := f.calls.Load(); n != 1 {
				t.Fatalf("fill called %d times, want 1", n)
			}
			st := c.Stats()
			// The Fetch hit and the fresh Get both count as L1 hits.
			if st.Misses != 1 || st.L1Hits != 2 || st.Fills != 1 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// Both ways of reading L2: one MGET per batch (single node) and a pipeline
// of GETs (any client).
func TestHitL2FromSecondInstance(t *testing.T) {
	for _, mget := range []bool{true, false} {
		t.Run(map[bool]string{true: "mget", false: "pipeline"}[mget], func(t *testing.T) {
			srv := testredis.Start(t)
			clk := newClock()
			a := newTiered(t, testConfig(), redisClient(t, srv), clk)
			b := newTiered(t, testConfig(), redisClient(t, srv), clk)
			a.l2.mget, b.l2.mget = mget, mget
			f := newFiller(clk, "v%d")
			tags := []string{"user:1", "users"}
			expect(t, fetch(t, a, "k", tags, clk.Now(), f), OutcomeMiss, "v1")
			testwait.For(t, 10*time.Second, "the L2 write", func() bool { return a.Stats().L2Writes == 1 })

			res := fetch(t, b, "k", tags, clk.Now(), f)
			expect(t, res, OutcomeHitL2, "v1")
			if res.Entry.Version != 0 || len(res.Entry.Tags) != 2 {
				t.Fatalf("entry from L2: %+v", res.Entry)
			}
			settle(t, b)
			expect(t, fetch(t, b, "k", tags, clk.Now(), f), OutcomeHitL1, "v1")
			if n := f.calls.Load(); n != 1 {
				t.Fatalf("fill called %d times, want 1", n)
			}
			// Looked up with other tags, the L2 entry cannot be fenced: a miss.
			c := newTiered(t, testConfig(), redisClient(t, srv), clk)
			c.l2.mget = mget
			expect(t, fetch(t, c, "k", []string{"users"}, clk.Now(), f), OutcomeMiss, "v2")
		})
	}
}

func TestL2HitTTLBoundedByLifetime(t *testing.T) {
	srv := testredis.Start(t)
	rdb := redisClient(t, srv)
	clk := newClock()
	a := newTiered(t, testConfig(), rdb, clk)
	f := newFiller(clk, "v%d")
	f.set(func(f *filler) { f.fresh, f.errw = 10*time.Second, 20*time.Second })
	fetch(t, a, "k", nil, clk.Now(), f)
	testwait.For(t, 10*time.Second, "the L2 write", func() bool { return a.Stats().L2Writes == 1 })
	ttl := rdb.PTTL(context.Background(), entryName("tiercel:", "k")).Val()
	if ttl <= 0 || ttl > 30*time.Second {
		t.Fatalf("L2 TTL %v, want within the entry's 30s lifetime", ttl)
	}
	b := newTiered(t, testConfig(), rdb, clk)
	expect(t, fetch(t, b, "k", nil, clk.Now(), f), OutcomeHitL2, "v1")
	settle(t, b)
	e := b.l1.get([]byte("k"), clk.Now())
	if e == nil {
		t.Fatal("the L2 hit was not copied into L1")
	}
	if left := time.Unix(0, e.l1Until).Sub(clk.Now()); left <= 0 || left > 30*time.Second {
		t.Fatalf("L1 lifetime %v, want within the entry's remaining 30s", left)
	}
	if e := b.l1.get([]byte("k"), clk.Advance(31*time.Second)); e != nil {
		t.Fatal("L1 still serves the entry after its lifetime")
	}
}

func TestCoalescing(t *testing.T) {
	srv := testredis.Start(t)
	clk := newClock()
	c := newTiered(t, testConfig(), redisClient(t, srv), clk)
	f := newFiller(clk, "v%d")
	gate := make(chan struct{})
	f.set(func(f *filler) { f.gate = gate })

	const n = 50
	var wg sync.WaitGroup
	results := make([]Result, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			results[i], errs[i] = c.Fetch(context.Background(), Request{Key: []byte("hot"), Tags: []string{"t"}, Now: clk.Now(), MakeFill: fillWith(f.fill)})
		})
	}
	testwait.For(t, 10*time.Second, "all fetches to wait", func() bool { return c.Stats().CoalescedWaits == n-1 })
	close(gate)
	wg.Wait()
	coalesced := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("fetch %d: %v", i, errs[i])
		}
		expect(t, results[i], OutcomeMiss, "v1")
		if results[i].Coalesced {
			coalesced++
		}
	}
	st := c.Stats()
	if calls := f.calls.Load(); calls != 1 || st.Fills != 1 {
		t.Fatalf("fill called %d times (stats %d), want 1", calls, st.Fills)
	}
	if coalesced != n-1 || st.L2Reads != 1 {
		t.Fatalf("coalesced %d, L2 reads %d; want %d and 1", coalesced, st.L2Reads, n-1)
	}
}

func TestWaiterLeavesAtItsDeadlineFillGoesOn(t *testing.T) {
	clk := newClock()
	c := newTiered(t, testConfig(), nil, clk)
	f := newFiller(clk, "v%d")
	gate := make(chan struct{})
	f.set(func(f *filler) { f.gate = gate })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, err := c.Fetch(ctx, Request{Key: []byte("k"), Now: clk.Now(), MakeFill: fillWith(f.fill)})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Fetch = %v, want deadline exceeded", err)
	}
	close(gate) // the fill was not cancelled: it completes and is stored
	settle(t, c)
	expect(t, fetch(t, c, "k", nil, clk.Now(), f), OutcomeHitL1, "v1")
}

// Request.Deadline bounds Fetch like a context deadline, also while the
// request leads the L2 read; the flight goes on without it.
func TestRequestDeadline(t *testing.T) {
	srv := testredis.Start(t)
	cfg := testConfig()
	cfg.L2Timeout = time.Second
	for name, rdb := range map[string]redis.UniversalClient{"L1": nil, "L2 paused": redisClient(t, srv)} {
		t.Run(name, func(t *testing.T) {
			clk := newClock()
			c := newTiered(t, cfg, rdb, clk)
			f := newFiller(clk, "v%d")
			gate := make(chan struct{})
			f.set(func(f *filler) { f.gate = gate })
			if rdb != nil {
				srv.Pause()
			}
			start := time.Now()
			_, err := c.Fetch(context.Background(), Request{Key: []byte("k"), Now: clk.Now(), Deadline: start.Add(10 * time.Millisecond), MakeFill: fillWith(f.fill)})
			if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > cfg.L2Timeout/2 {
				t.Fatalf("Fetch = %v after %s, want deadline exceeded after 10ms", err, time.Since(start))
			}
			if rdb != nil {
				srv.Resume()
			}
			close(gate) // the flight went on: it fills and stores
			testwait.For(t, 10*time.Second, "the fill", func() bool { return f.calls.Load() == 1 })
			settle(t, c)
			expect(t, fetch(t, c, "k", nil, clk.Now(), f), OutcomeHitL1, "v1")
		})
	}
}

func TestStaleWhileRevalidate(t *testing.T) {
	clk, c, f := filledOnce(t, func(f *filler) { f.fresh, f.stale = 10*time.Second, 50*time.Second })
	expect(t, fetch(t, c, "k", nil, clk.Advance(5*time.Second), f), OutcomeHitL1, "v1")

	gate := make(chan struct{})
	f.set(func(f *filler) { f.gate = gate })
	now := clk.Advance(15 * time.Second) // 20s: stale
	for range 20 {
		expect(t, fetch(t, c, "k", nil, now, f), OutcomeStale, "v1")
	}
	testwait.For(t, 10*time.Second, "the refresh to call fill", func() bool { return f.calls.Load() == 2 })
	if st := c.Stats(); st.BackgroundRefreshes != 1 || st.StaleServed != 20 {
		t.Fatalf("stats %+v, want 1 refresh and 20 stale", st)
	}
	close(gate)
	testwait.For(t, 10*time.Second, "the refreshed entry", func() bool {
		res := fetch(t, c, "k", nil, now, f)
		return res.Outcome == OutcomeHitL1 && string(res.Entry.Value) == "v2"
	})
	if st := c.Stats(); st.BackgroundRefreshes != 1 || f.calls.Load() != 2 {
		t.Fatalf("%d refreshes, %d fills; want 1 and 2", st.BackgroundRefreshes, f.calls.Load())
	}
}

func TestStaleWhileRevalidateFromL2(t *testing.T) {
	srv := testredis.Start(t)
	clk := newClock()
	a := newTiered(t, testConfig(), redisClient(t, srv), clk)
	b := newTiered(t, testConfig(), redisClient(t, srv), clk)
	f := newFiller(clk, "v%d")
	f.set(func(f *filler) { f.fresh, f.stale = 10*time.Second, 50*time.Second })
	fetch(t, a, "k", nil, clk.Now(), f)
	testwait.For(t, 10*time.Second, "the L2 write", func() bool { return a.Stats().L2Writes == 1 })

	now := clk.Advance(20 * time.Second)
	expect(t, fetch(t, b, "k", nil, now, f), OutcomeStale, "v1")
	testwait.For(t, 10*time.Second, "b's refresh", func() bool {
		res := fetch(t, b, "k", nil, now, f)
		return res.Outcome == OutcomeHitL1 && string(res.Entry.Value) == "v2"
	})
	if st := b.Stats(); st.BackgroundRefreshes != 1 {
		t.Fatalf("%d refreshes, want 1", st.BackgroundRefreshes)
	}
}

func TestStaleIfError(t *testing.T) {
	clk, c, f := filledOnce(t, func(f *filler) { f.fresh, f.errw = 10*time.Second, 60*time.Second })

	f.set(func(f *filler) { f.err = errOrigin })
	expect(t, fetch(t, c, "k", nil, clk.Advance(20*time.Second), f), OutcomeStaleError, "v1")

	// The fill hangs: the waiter's deadline is what serves the old entry.
	gate := make(chan struct{})
	f.set(func(f *filler) { f.err, f.gate = nil, gate })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	res, err := c.Fetch(ctx, Request{Key: []byte("k"), Now: clk.Now(), MakeFill: fillWith(f.fill)})
	if err != nil {
		t.Fatalf("Fetch with a hung fill: %v", err)
	}
	expect(t, res, OutcomeStaleError, "v1")

	close(gate) // the hung fill completes (at 20s) and is stored
	settle(t, c)

	// Past every window: the error comes through.
	f.set(func(f *filler) { f.err, f.gate = errOrigin, nil })
	_, err = c.Fetch(context.Background(), Request{Key: []byte("k"), Now: clk.Advance(2 * time.Minute), MakeFill: fillWith(f.fill)})
	if !errors.Is(err, errOrigin) {
		t.Fatalf("Fetch past the error window = %v, want the fill's error", err)
	}
	if st := c.Stats(); st.StaleErrorServed != 2 || st.Errors != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestNegativeEntry(t *testing.T) {
	clk := newClock()
	c := newTiered(t, testConfig(), nil, clk)
	notFound := func(context.Context, []byte, *Entry) (*Entry, error) {
		return &Entry{Negative: true, FreshUntil: clk.Now().Add(time.Second)}, nil
	}
	res, err := c.Fetch(context.Background(), Request{Key: []byte("missing"), Now: clk.Now(), MakeFill: fillWith(notFound)})
	if err != nil || !res.Entry.Negative || res.Outcome != OutcomeMiss {
		t.Fatalf("Fetch = %+v, %v", res, err)
	}
	settle(t, c)
	if e, fr, ok := c.Get([]byte("missing"), clk.Now()); !ok || fr != Fresh || !e.Negative {
		t.Fatalf("Get = %v, %s, %v", e, fr, ok)
	}
	if _, _, ok := c.Get([]byte("missing"), clk.Advance(2*time.Second)); ok {
		t.Fatalf("negative entry served past its short TTL")
	}
}

func TestUncacheableEntryNotStored(t *testing.T) {
	clk, c, f := filledOnce(t, func(f *filler) { f.fresh = 0 })
	expect(t, fetch(t, c, "k", nil, clk.Advance(time.Nanosecond), f), OutcomeMiss, "v2")
}

func TestFillPanicIsAnError(t *testing.T) {
	clk := newClock()
	c := newTiered(t, testConfig(), nil, clk)
	panics := func(context.Context, []byte, *Entry) (*Entry, error) { panic("boom") }
	_, err := c.Fetch(context.Background(), Request{Key: []byte("k"), MakeFill: fillWith(panics)})
	if err == nil {
		t.Fatalf("Fetch with a panicking fill succeeded")
	}
	noEntry := func(context.Context, []byte, *Entry) (*Entry, error) { return nil, nil }
	_, err = c.Fetch(context.Background(), Request{Key: []byte("k2"), MakeFill: fillWith(noEntry)})
	if !errors.Is(err, ErrInvalidEntry) {
		t.Fatalf("Fetch with a nil entry = %v, want ErrInvalidEntry", err)
	}
}

func TestKeyCollisionNeverServesAnotherKey(t *testing.T) {
	clk := newClock()
	c := newTiered(t, testConfig(), nil, clk)
	c.l1.close()
	var err error
	if c.l1, err = newL1(c.cfg.L1MaxBytes, c.cfg.L1Counters, &c.st, true); err != nil { // every key collides
		t.Fatal(err)
	}
	fa, fb := newFiller(clk, "tenant-a"), newFiller(clk, "tenant-b")
	expect(t, fetch(t, c, "tenant=a|GET /me", nil, clk.Now(), fa), OutcomeMiss, "tenant-a")
	settle(t, c)
	if e, _, ok := c.Get([]byte("tenant=b|GET /me"), clk.Now()); ok {
		t.Fatalf("Get of a colliding key served %q", e.Value)
	}
	expect(t, fetch(t, c, "tenant=b|GET /me", nil, clk.Now(), fb), OutcomeMiss, "tenant-b")
	settle(t, c)
	res := fetch(t, c, "tenant=a|GET /me", nil, clk.Now(), fa)
	if string(res.Entry.Value) != "tenant-a" {
		t.Fatalf("key a served %q", res.Entry.Value)
	}
}

func TestClosedCache(t *testing.T) {
	clk := newClock()
	c := newTiered(t, testConfig(), nil, clk)
	f := newFiller(clk, "v")
	fetch(t, c, "k", nil, clk.Now(), f)
	c.Close()
	c.Close() // idempotent
	if _, err := c.Fetch(context.Background(), Request{Key: []byte("k"), MakeFill: fillWith(f.fill)}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Fetch after Close = %v", err)
	}
	if _, _, ok := c.Get([]byte("k"), clk.Now()); ok {
		t.Fatalf("Get after Close hit")
	}
}

func TestL2ForeignOrCorruptEntryIsAMiss(t *testing.T) {
	srv := testredis.Start(t)
	rdb := redisClient(t, srv)
	clk := newClock()
	cfg := testConfig()
	cfg.KeyPrefix = "test:"
	c := newTiered(t, cfg, rdb, clk)
	f := newFiller(clk, "v%d")
	ctx := context.Background()
	future := sampleEntry().Append(nil)
	future[0] = formatV2 + 1
	rdb.Set(ctx, entryName("test:", "future"), future, 0)
	rdb.Set(ctx, entryName("test:", "corrupt"), []byte{formatV1, 0, 0x80}, 0)
	expect(t, fetch(t, c, "future", nil, clk.Now(), f), OutcomeMiss, "v1")
	expect(t, fetch(t, c, "corrupt", nil, clk.Now(), f), OutcomeMiss, "v2")
	if st := c.Stats(); st.UnknownFormat != 1 || st.DecodeErrors != 1 {
		t.Fatalf("stats %+v", st)
	}
	// The fills replaced them, under the configured prefix.
	testwait.For(t, 10*time.Second, "the L2 writes", func() bool { return c.Stats().L2Writes == 2 })
	b, err := rdb.Get(ctx, entryName("test:", "future")).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if e, err := Decode(b); err != nil || string(e.Value) != "v1" {
		t.Fatalf("L2 holds %v, %v", e, err)
	}
}

// Entries the previous release wrote (formatV1) are read, not dropped.
func TestL2EntryOfPreviousFormatIsRead(t *testing.T) {
	srv := testredis.Start(t)
	rdb := redisClient(t, srv)
	clk := newClock()
	c := newTiered(t, testConfig(), rdb, clk)
	now := clk.Now()
	e := &Entry{Key: []byte("k"), Value: []byte("v1"), StoredAt: now, FreshUntil: now.Add(time.Minute), ErrorUntil: now.Add(time.Hour)}
	if err := rdb.Set(context.Background(), entryName("tiercel:", "k"), appendV1(nil, e), time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	res := fetch(t, c, "k", nil, now, newFiller(clk, "filled"))
	expect(t, res, OutcomeHitL2, "v1")
	if !res.Entry.KeepUntil.Equal(e.ErrorUntil) {
		t.Fatalf("KeepUntil %v, want ErrorUntil %v", res.Entry.KeepUntil, e.ErrorUntil)
	}
	if st := c.Stats(); st.UnknownFormat != 0 || st.DecodeErrors != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestGenerationKeys(t *testing.T) {
	srv := testredis.Start(t)
	rdb := redisClient(t, srv)
	c := newTiered(t, testConfig(), rdb, newClock())
	ctx := context.Background()
	for range 2 {
		if _, err := c.Invalidate(ctx, Invalidation{Keys: [][]byte{[]byte("k")}}); err != nil {
			t.Fatal(err)
		}
	}
	gen, err := rdb.Get(ctx, keyGenName("tiercel:", "k")).Uint64()
	if err != nil {
		t.Fatal(err)
	}
	// A new generation starts from the server clock (µs), never from 1, so
	// a generation key that expired and came back cannot repeat a value.
	if gen < 1_000_000_000_000_000 {
		t.Fatalf("generation %d does not start from the server clock", gen)
	}
	if ttl := rdb.PTTL(ctx, keyGenName("tiercel:", "k")).Val(); ttl <= 0 || ttl > time.Hour {
		t.Fatalf("generation TTL %v, want the tombstone TTL", ttl)
	}
}

// Request.MakeFill is called only when a fill or a refresh may be needed:
// on a miss and on a stale entry (L1 or L2), never on a hit.
func TestMakeFillOnlyWhenNeeded(t *testing.T) {
	srv := testredis.Start(t)
	clk := newClock()
	a := newTiered(t, testConfig(), redisClient(t, srv), clk)
	b := newTiered(t, testConfig(), redisClient(t, srv), clk)
	f := newFiller(clk, "v%d")
	f.set(func(f *filler) { f.fresh, f.stale = 10*time.Second, 50*time.Second })
	var made atomic.Int32
	lazy := func(c *Tiered, now time.Time) Result {
		t.Helper()
		res, err := c.Fetch(context.Background(), Request{Key: []byte("k"), Now: now,
			MakeFill: func() FillFunc { made.Add(1); return f.fill }})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	f2 := func(want int32) {
		t.Helper()
		if got := made.Load(); got != want {
			t.Fatalf("MakeFill called %d times, want %d", got, want)
		}
	}
	expect(t, lazy(a, clk.Now()), OutcomeMiss, "v1")
	f2(1)
	testwait.For(t, 10*time.Second, "the L2 write", func() bool { return a.Stats().L2Writes == 1 })
	expect(t, lazy(b, clk.Now()), OutcomeHitL2, "v1")
	settle(t, b)
	expect(t, lazy(b, clk.Now()), OutcomeHitL1, "v1")
	f2(1)
	now := clk.Advance(20 * time.Second)
	c := newTiered(t, testConfig(), redisClient(t, srv), clk)
	expect(t, lazy(c, now), OutcomeStale, "v1") // from L2
	f2(2)
	testwait.For(t, 10*time.Second, "c's refresh", func() bool { return f.calls.Load() == 2 })
	expect(t, lazy(b, now), OutcomeStale, "v1") // from L1
	f2(3)
	testwait.For(t, 10*time.Second, "b's refresh", func() bool { return b.Stats().BackgroundRefreshes == 1 })
}

// TestL1MissedSkipsL1: a caller whose Get just missed says so, and Fetch
// goes to L2 without asking L1 again; the answer is the same entry.
func TestL1MissedSkipsL1(t *testing.T) {
	srv := testredis.Start(t)
	clk := newClock()
	c := newTiered(t, testConfig(), redisClient(t, srv), clk)
	f := newFiller(clk, "v%d")
	expect(t, fetch(t, c, "k", nil, clk.Now(), f), OutcomeMiss, "v1")
	testwait.For(t, 10*time.Second, "the L2 write", func() bool { return c.Stats().L2Writes == 1 })
	settle(t, c)
	expect(t, fetch(t, c, "k", nil, clk.Now(), f), OutcomeHitL1, "v1")
	res, err := c.Fetch(context.Background(), Request{Key: []byte("k"), Now: clk.Now(), L1Missed: true, MakeFill: fillWith(f.fill)})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, res, OutcomeHitL2, "v1")
	if n := f.calls.Load(); n != 1 {
		t.Fatalf("fill called %d times, want 1", n)
	}
}
