package cache

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tiercel/tiercel/internal/testredis"
	"github.com/tiercel/tiercel/internal/testwait"
)

// Keep windows and revalidation (RFC 9111 §4.3): an entry past its error
// window is kept, never served, and handed to the next fill as old, the
// base of a conditional request.

func TestFreshnessStates(t *testing.T) {
	at := time.Unix(1_700_000_000, 0)
	e := &Entry{
		StoredAt:   at,
		FreshUntil: at.Add(10 * time.Second),
		StaleUntil: at.Add(20 * time.Second),
		ErrorUntil: at.Add(30 * time.Second),
		KeepUntil:  at.Add(40 * time.Second),
	}
	f := func(e *Entry, after time.Duration, want Freshness) {
		t.Helper()
		if got := e.Freshness(at.Add(after)); got != want {
			t.Fatalf("at +%s: %s, want %s", after, got, want)
		}
	}
	f(e, 0, Fresh)
	f(e, 10*time.Second, Fresh) // windows are inclusive
	f(e, 10*time.Second+1, Stale)
	f(e, 20*time.Second+1, Expired)
	f(e, 30*time.Second, Expired)
	f(e, 30*time.Second+1, Kept)
	f(e, 40*time.Second, Kept)
	f(e, 40*time.Second+1, Gone)
	// Zero KeepUntil: no keep window, gone after the error window.
	noKeep := *e
	noKeep.KeepUntil = time.Time{}
	f(&noKeep, 30*time.Second+1, Gone)

	for fr, want := range map[Freshness]bool{Gone: false, Fresh: true, Stale: true, Expired: true, Kept: false} {
		if fr.Servable() != want {
			t.Fatalf("%s servable = %v", fr, !want)
		}
	}
	if Kept.String() != "kept" || OutcomeRevalidated.String() != "REVALIDATED" {
		t.Fatalf("names: %s, %s", Kept, OutcomeRevalidated)
	}
}

func TestNormalizeOrdersKeepWindow(t *testing.T) {
	at := time.Unix(1_700_000_000, 0)
	f := func(name string, keep, want time.Time) {
		t.Helper()
		e := &Entry{StoredAt: at, FreshUntil: at.Add(time.Second), ErrorUntil: at.Add(time.Minute), KeepUntil: keep}
		if err := e.normalize(at); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !e.KeepUntil.Equal(want) || e.KeepUntil.Before(e.ErrorUntil) {
			t.Fatalf("%s: KeepUntil %v, want %v", name, e.KeepUntil, want)
		}
	}
	f("zero: no keep window", time.Time{}, at.Add(time.Minute))
	f("before the error window ends", at.Add(time.Second), at.Add(time.Minute))
	f("after it", at.Add(time.Hour), at.Add(time.Hour))
	e := &Entry{StoredAt: at, KeepUntil: maxEntryTime.Add(time.Second)}
	if err := e.normalize(at); !errors.Is(err, ErrInvalidEntry) {
		t.Fatalf("a keep window past 2262: %v, want ErrInvalidEntry", err)
	}
}

// A kept entry is never served (RFC 9111 §4.2.4 allows a stale answer only
// where the origin allowed it: here its stale-if-error window), neither by
// Get as a hit nor by Fetch when the fill fails or hangs; an expired one
// inside its error window still is.
func TestKeptEntryIsNeverServed(t *testing.T) {
	// ErrorUntil at +30s, KeepUntil at +70s.
	clk, c, f := filledOnce(t, func(f *filler) { f.fresh, f.errw, f.keep = 10*time.Second, 20*time.Second, time.Minute })
	f.set(func(f *filler) { f.err = errOrigin })
	expect(t, fetch(t, c, "k", nil, clk.Advance(20*time.Second), f), OutcomeStaleError, "v1")
	settle(t, c) // or the next request joins that failed flight

	now := clk.Advance(20 * time.Second) // +40s: kept
	hits := c.Stats().L1Hits
	e, fr, ok := c.Get([]byte("k"), now)
	if !ok || fr != Kept || string(e.Value) != "v1" {
		t.Fatalf("Get = %v, %s, %v; want the kept entry", e, fr, ok)
	}
	if c.Stats().L1Hits != hits {
		t.Fatal("Get counted a kept entry as a hit")
	}
	_, err := c.Fetch(context.Background(), Request{Key: []byte("k"), Now: now, MakeFill: fillWith(f.fill)})
	if !errors.Is(err, errOrigin) {
		t.Fatalf("Fetch with a failing fill = %v, want the fill's error, not the kept entry", err)
	}
	if old := f.old(t, 3); old != e {
		t.Fatalf("the fill got old %v, want the kept entry", old)
	}
	settle(t, c)

	// A hung fill: the request's deadline does not serve it either.
	gate := make(chan struct{})
	f.set(func(f *filler) { f.gate = gate })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := c.Fetch(ctx, Request{Key: []byte("k"), Now: now, MakeFill: fillWith(f.fill)}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Fetch with a hung fill = %v, want deadline exceeded", err)
	}
	close(gate) // the fill fails too: nothing replaces the kept entry
	settle(t, c)
	if st := c.Stats(); st.StaleErrorServed != 1 || st.Errors != 2 || st.L1Hits != hits {
		t.Fatalf("stats %+v; want 1 stale-if-error answer (at +20s), 2 errors", st)
	}

	// Past KeepUntil: gone, and no longer a base.
	now = clk.Advance(31 * time.Second)
	if e, fr, ok := c.Get([]byte("k"), now); ok {
		t.Fatalf("Get past KeepUntil = %v, %s", e, fr)
	}
	if _, err := c.Fetch(context.Background(), Request{Key: []byte("k"), Now: now, MakeFill: fillWith(f.fill)}); !errors.Is(err, errOrigin) {
		t.Fatalf("Fetch past KeepUntil = %v", err)
	}
	if old := f.old(t, 5); old != nil {
		t.Fatalf("the fill got a gone entry as old: %+v", old)
	}
}

// The fill gets the entry L1 holds, expired or kept, and a 304 answer
// (Revalidated) is reported and counted as such and stored like a miss.
// The second round follows the gateway's hot path: Get says an entry
// exists (a kept one), so Fetch is called without L1Missed.
func TestFillGetsOldFromL1(t *testing.T) {
	clk, c, f := filledOnce(t, func(f *filler) {
		f.fresh, f.errw, f.keep, f.revalidate = 10*time.Second, 30*time.Second, time.Hour, true
	})
	if old := f.old(t, 1); old != nil {
		t.Fatalf("the first fill got old %+v, want nil", old)
	}
	now := clk.Advance(20 * time.Second) // expired, inside its error window
	e, fr, _ := c.Get([]byte("k"), now)
	if fr != Expired {
		t.Fatalf("Get: %s, want expired", fr)
	}
	res := fetch(t, c, "k", nil, now, f)
	expect(t, res, OutcomeRevalidated, "v1")
	if f.old(t, 2) != e || !res.Entry.StoredAt.Equal(now) || !res.Entry.Revalidated {
		t.Fatalf("old %p (want %p), revalidated entry %+v", f.old(t, 2), e, res.Entry)
	}
	settle(t, c)
	expect(t, fetch(t, c, "k", nil, now, f), OutcomeHitL1, "v1")

	now = clk.Advance(45 * time.Second) // past the new ErrorUntil (+60s): kept
	e, fr, ok := c.Get([]byte("k"), now)
	if !ok || fr != Kept {
		t.Fatalf("Get = %s, %v; want kept", fr, ok)
	}
	res, err := c.Fetch(context.Background(), Request{Key: []byte("k"), Now: now, L1Missed: !ok, MakeFill: fillWith(f.fill)})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, res, OutcomeRevalidated, "v1")
	if f.old(t, 3) != e {
		t.Fatalf("the fill got %p, want the kept entry %p", f.old(t, 3), e)
	}
	if st := c.Stats(); st.Revalidated != 2 || st.Misses != 1 || st.Fills != 3 {
		t.Fatalf("stats %+v; want 2 revalidated, 1 miss, 3 fills", st)
	}
}

// A process whose L1 is empty gets old from L2; the revalidated entry is
// stored in both tiers, like a miss's.
func TestFillGetsOldFromL2(t *testing.T) {
	srv := testredis.Start(t)
	clk := newClock()
	a := newTiered(t, testConfig(), redisClient(t, srv), clk)
	b := newTiered(t, testConfig(), redisClient(t, srv), clk)
	f := newFiller(clk, "v%d")
	f.set(func(f *filler) { f.fresh, f.keep, f.revalidate = 10*time.Second, time.Hour, true })
	tags := []string{"user:1"}
	first := fetch(t, a, "k", tags, clk.Now(), f)
	testwait.For(t, 10*time.Second, "a's L2 write", func() bool { return a.Stats().L2Writes == 1 })

	now := clk.Advance(30 * time.Second) // kept
	res := fetch(t, b, "k", tags, now, f)
	expect(t, res, OutcomeRevalidated, "v1")
	old := f.old(t, 2)
	if old == nil || old == first.Entry || string(old.Value) != "v1" || !old.StoredAt.Equal(first.Entry.StoredAt) {
		t.Fatalf("old = %+v, want v1 decoded from L2", old)
	}
	if st := b.Stats(); st.Revalidated != 1 || st.Misses != 0 || st.L2Hits != 0 {
		t.Fatalf("b's stats %+v", st)
	}
	settle(t, b)
	expect(t, fetch(t, b, "k", tags, now, f), OutcomeHitL1, "v1")
	testwait.For(t, 10*time.Second, "b's L2 write", func() bool { return b.Stats().L2Writes == 1 })
	c := newTiered(t, testConfig(), redisClient(t, srv), clk)
	res = fetch(t, c, "k", tags, now, f)
	expect(t, res, OutcomeHitL2, "v1")
	if !res.Entry.StoredAt.Equal(now) || res.Entry.Revalidated {
		t.Fatalf("L2 holds %+v, want the revalidated entry (the flag is not stored)", res.Entry)
	}
}

// A stale-while-revalidate refresh gets the stale entry it refreshes, from
// L1 or from L2.
func TestRefreshGetsStaleAsOld(t *testing.T) {
	t.Run("L1", func(t *testing.T) {
		clk, c, f := filledOnce(t, func(f *filler) { f.fresh, f.stale, f.revalidate = 10*time.Second, 50*time.Second, true })
		now := clk.Advance(20 * time.Second)
		res := fetch(t, c, "k", nil, now, f)
		expect(t, res, OutcomeStale, "v1")
		testwait.For(t, 10*time.Second, "the refresh", func() bool { return f.calls.Load() == 2 })
		if old := f.old(t, 2); old != res.Entry {
			t.Fatalf("the refresh got old %+v, want the stale entry", old)
		}
		testwait.For(t, 10*time.Second, "the revalidated entry", func() bool {
			res := fetch(t, c, "k", nil, now, f)
			return res.Outcome == OutcomeHitL1 && res.Entry.StoredAt.Equal(now)
		})
		// A refresh answers no Fetch: nothing is counted as revalidated.
		if st := c.Stats(); st.Revalidated != 0 || st.BackgroundRefreshes != 1 {
			t.Fatalf("stats %+v", st)
		}
	})
	t.Run("L2", func(t *testing.T) {
		srv := testredis.Start(t)
		clk := newClock()
		a := newTiered(t, testConfig(), redisClient(t, srv), clk)
		b := newTiered(t, testConfig(), redisClient(t, srv), clk)
		f := newFiller(clk, "v%d")
		f.set(func(f *filler) { f.fresh, f.stale, f.revalidate = 10*time.Second, 50*time.Second, true })
		first := fetch(t, a, "k", nil, clk.Now(), f)
		testwait.For(t, 10*time.Second, "a's L2 write", func() bool { return a.Stats().L2Writes == 1 })
		now := clk.Advance(20 * time.Second)
		expect(t, fetch(t, b, "k", nil, now, f), OutcomeStale, "v1")
		testwait.For(t, 10*time.Second, "b's refresh", func() bool { return f.calls.Load() == 2 })
		if old := f.old(t, 2); old == nil || string(old.Value) != "v1" || !old.StoredAt.Equal(first.Entry.StoredAt) {
			t.Fatalf("the refresh got old %+v, want v1 from L2", old)
		}
	})
}

// An invalidated entry is not to be trusted, not even as the base of a
// revalidation: after an invalidation of its key or one of its tags, the
// fill gets no old entry, whether L1 (the fence) or L2 (the generations)
// held it.
func TestInvalidatedEntryIsNoBase(t *testing.T) {
	srv := testredis.Start(t)
	for _, tier := range []string{"L1", "L2"} {
		for _, by := range []string{"key", "tag"} {
			t.Run(tier+"/"+by, func(t *testing.T) {
				clk := newClock()
				cfg := testConfig()
				cfg.KeyPrefix = fmt.Sprintf("%s-%s:", tier, by)
				var writer, reader *Tiered
				if tier == "L1" {
					writer = newTiered(t, cfg, nil, clk)
					reader = writer
				} else {
					writer = newTiered(t, cfg, redisClient(t, srv), clk)
					reader = newTiered(t, cfg, redisClient(t, srv), clk) // empty L1: only L2 can give old
				}
				f := newFiller(clk, "v%d")
				f.set(func(f *filler) { f.fresh, f.keep, f.revalidate = 10*time.Second, time.Hour, true })
				tags := []string{"user:1", "users"}
				fetch(t, writer, "k", tags, clk.Now(), f)
				settle(t, writer)
				if tier == "L2" {
					testwait.For(t, 10*time.Second, "the L2 write", func() bool { return writer.Stats().L2Writes == 1 })
				}
				var err error
				if by == "key" {
					_, err = writer.Invalidate(context.Background(), Invalidation{Keys: [][]byte{[]byte("k")}})
				} else {
					_, err = writer.Invalidate(context.Background(), Invalidation{Tags: []string{"users"}})
				}
				if err != nil {
					t.Fatal(err)
				}
				expect(t, fetch(t, reader, "k", tags, clk.Advance(30*time.Second), f), OutcomeMiss, "v2")
				if old := f.old(t, 2); old != nil {
					t.Fatalf("the fill got an invalidated entry as old: %+v", old)
				}
			})
		}
	}
}

// An invalidation applied after the flight found its base in L1 (and took
// its sequence) but before the fill: the base is checked again when the
// fill starts, not only the fill's result fenced.
func TestInvalidationBeforeFillDropsBase(t *testing.T) {
	clk, c, f := filledOnce(t, func(f *filler) { f.fresh, f.keep, f.revalidate = 10*time.Second, time.Hour, true })
	now := clk.Advance(30 * time.Second)
	res, err := c.Fetch(context.Background(), Request{Key: []byte("k"), Now: now, MakeFill: func() FillFunc {
		// Called by the leading request after the flight registered, before
		// the fill starts.
		if _, err := c.Invalidate(context.Background(), Invalidation{Keys: [][]byte{[]byte("k")}}); err != nil {
			t.Error(err)
		}
		return f.fill
	}})
	if err != nil {
		t.Fatal(err)
	}
	// The first fill was overtaken by the invalidation (fenced), the second
	// served; neither was given the invalidated entry.
	expect(t, res, OutcomeMiss, "v3")
	if f.old(t, 2) != nil || f.old(t, 3) != nil {
		t.Fatalf("a fill got the invalidated entry: %+v, %+v", f.old(t, 2), f.old(t, 3))
	}
}

// Both tiers hold an entry for the key: the fill gets the newer.
func TestOldIsTheNewerOfL1AndL2(t *testing.T) {
	srv := testredis.Start(t)
	rdb := redisClient(t, srv)
	clk := newClock()
	a := newTiered(t, testConfig(), rdb, clk)
	b := newTiered(t, testConfig(), redisClient(t, srv), clk)
	f := newFiller(clk, "v%d")
	f.set(func(f *filler) { f.fresh, f.keep = 10*time.Second, time.Hour })
	t0 := clk.Now()
	fetch(t, a, "k", nil, t0, f) // v1 in a's L1 and in L2
	settle(t, a)
	testwait.For(t, 10*time.Second, "a's L2 write", func() bool { return a.Stats().L2Writes == 1 })
	fetch(t, b, "k", nil, clk.Advance(30*time.Second), f) // v2, newer, in L2
	testwait.For(t, 10*time.Second, "b's L2 write", func() bool { return b.Stats().L2Writes == 1 })

	// L2 newer: a's L1 holds v1 (t0), L2 v2 (t0+30s); both kept.
	expect(t, fetch(t, a, "k", nil, clk.Advance(30*time.Second), f), OutcomeMiss, "v3")
	if old := f.old(t, 3); old == nil || string(old.Value) != "v2" {
		t.Fatalf("old = %+v, want v2 (L2, newer than L1's v1)", old)
	}
	settle(t, a)
	testwait.For(t, 10*time.Second, "a's second L2 write", func() bool { return a.Stats().L2Writes == 2 })

	// L1 newer: a's L1 holds v3 (t0+60s), L2 an older entry (t0+45s).
	at := t0.Add(45 * time.Second)
	older := &Entry{Key: []byte("k"), Value: []byte("older"), StoredAt: at, FreshUntil: at.Add(10 * time.Second), KeepUntil: at.Add(time.Hour)}
	if err := rdb.Set(context.Background(), entryName("tiercel:", "k"), older.Append(nil), time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	expect(t, fetch(t, a, "k", nil, clk.Advance(30*time.Second), f), OutcomeMiss, "v4")
	if old := f.old(t, 4); old == nil || string(old.Value) != "v3" {
		t.Fatalf("old = %+v, want v3 (L1, newer than L2's)", old)
	}
}

// Cache-Control: no-cache (RFC 9111 §5.2.2.4): the response may be stored
// but must be revalidated before every reuse. Stored with no fresh window
// and a keep window, it answers the request that filled it, then is only
// ever revalidated, from this process's L1 or another's L2.
func TestNoCacheStoredOnlyToRevalidate(t *testing.T) {
	srv := testredis.Start(t)
	rdb := redisClient(t, srv)
	clk := newClock()
	a := newTiered(t, testConfig(), rdb, clk)
	b := newTiered(t, testConfig(), redisClient(t, srv), clk)
	f := newFiller(clk, "v%d")
	f.set(func(f *filler) { f.fresh, f.keep, f.revalidate = 0, time.Hour, true })
	expect(t, fetch(t, a, "k", nil, clk.Now(), f), OutcomeMiss, "v1")
	settle(t, a)
	testwait.For(t, 10*time.Second, "the L2 write", func() bool { return a.Stats().L2Writes == 1 })
	if ttl := rdb.PTTL(context.Background(), entryName("tiercel:", "k")).Val(); ttl < 59*time.Minute {
		t.Fatalf("L2 TTL %v, want the keep window (1h)", ttl)
	}
	now := clk.Advance(time.Second)
	if _, fr, ok := a.Get([]byte("k"), now); !ok || fr != Kept {
		t.Fatalf("Get: %s, %v; want kept", fr, ok)
	}
	expect(t, fetch(t, a, "k", nil, now, f), OutcomeRevalidated, "v1")
	testwait.For(t, 10*time.Second, "the revalidated entry in L2", func() bool { return a.Stats().L2Writes == 2 })
	expect(t, fetch(t, b, "k", nil, clk.Advance(time.Second), f), OutcomeRevalidated, "v1")
	if old := f.old(t, 3); old == nil || !old.StoredAt.Equal(now) {
		t.Fatalf("b's fill got old %+v, want a's revalidated entry from L2", old)
	}
	if f.calls.Load() != 3 {
		t.Fatalf("%d fills, want one per request", f.calls.Load())
	}
}

// Both tiers keep an entry until KeepUntil (capped by TombstoneTTL, see
// fence.go), and no longer.
func TestKeepWindowLifetimeInBothTiers(t *testing.T) {
	srv := testredis.Start(t)
	rdb := redisClient(t, srv)
	clk := newClock()
	c := newTiered(t, testConfig(), rdb, clk) // TombstoneTTL: 1h
	f := newFiller(clk, "v%d")
	// ErrorUntil at +30s, KeepUntil at +70s.
	f.set(func(f *filler) { f.fresh, f.errw, f.keep = 10*time.Second, 20*time.Second, time.Minute })
	t0 := clk.Now()
	fetch(t, c, "k", nil, t0, f)
	f.set(func(f *filler) { f.keep = 2 * time.Hour }) // past TombstoneTTL
	fetch(t, c, "long", nil, t0, f)
	settle(t, c)
	testwait.For(t, 10*time.Second, "the L2 writes", func() bool { return c.Stats().L2Writes == 2 })

	ctx := context.Background()
	if ttl := rdb.PTTL(ctx, entryName("tiercel:", "k")).Val(); ttl <= time.Minute || ttl > 70*time.Second {
		t.Fatalf("L2 TTL %v, want past the error window (30s), within the keep window (70s)", ttl)
	}
	if ttl := rdb.PTTL(ctx, entryName("tiercel:", "long")).Val(); ttl <= 59*time.Minute || ttl > time.Hour {
		t.Fatalf("L2 TTL %v, want TombstoneTTL (1h)", ttl)
	}
	if e := c.l1.get([]byte("k"), t0); e == nil || e.l1Until != t0.Add(70*time.Second).UnixNano() {
		t.Fatalf("L1 lifetime: %+v, want until KeepUntil", e)
	}
	if e := c.l1.get([]byte("long"), t0); e == nil || e.l1Until != t0.Add(time.Hour).UnixNano() {
		t.Fatalf("L1 lifetime: %+v, want TombstoneTTL", e)
	}
	if _, fr, ok := c.Get([]byte("k"), clk.Advance(70*time.Second-time.Nanosecond)); !ok || fr != Kept {
		t.Fatalf("Get just before KeepUntil: %s, %v; want kept", fr, ok)
	}
	if e := c.l1.get([]byte("k"), clk.Advance(time.Nanosecond)); e != nil {
		t.Fatal("L1 still holds the entry at KeepUntil")
	}
}

// A request that joins a flight just finished is served its stored entry as
// an L1 hit, so only if L1 would serve it as it is: not an expired one, and
// never a kept one (a no-cache response, say), which it revalidates like
// one found in L1.
func TestLateJoinerOfAnEntryNotServedAsIs(t *testing.T) {
	f := func(name string, fresh, errw time.Duration, fillErr error, want Outcome) {
		t.Run(name, func(t *testing.T) {
			clk := newClock()
			c := newTiered(t, testConfig(), nil, clk)
			fl := newFiller(clk, "v%d")
			fl.set(func(f *filler) { f.revalidate, f.err = true, fillErr })
			now := clk.Now()
			e := &Entry{Key: []byte("k"), Value: []byte("origin"), StoredAt: now, FreshUntil: now.Add(fresh),
				ErrorUntil: now.Add(errw), KeepUntil: now.Add(time.Hour)}
			if err := e.normalize(now); err != nil {
				t.Fatal(err)
			}
			e.seq = c.fence.next()
			// Finished and stored, but not yet retired: its L1 write is not
			// visible yet, so a request misses L1 and joins it.
			c.mu.Lock()
			c.flights["k"] = &flight{keyBytes: e.Key, finished: true, stored: true, entry: e, outcome: OutcomeMiss,
				seq: e.seq, started: time.Now(), timeout: time.Minute}
			c.mu.Unlock()
			expect(t, fetch(t, c, "k", nil, clk.Advance(time.Second), fl), want, "origin")
			if want == OutcomeHitL1 {
				return
			}
			if fl.old(t, 1) != e {
				t.Fatalf("the fill got old %+v, want the flight's entry", fl.old(t, 1))
			}
		})
	}
	f("fresh", time.Hour, 0, nil, OutcomeHitL1)
	f("kept", 0, 0, nil, OutcomeRevalidated)
	f("expired, fill fails", 0, time.Hour, errOrigin, OutcomeStaleError)
}

// The fill treats old as read-only and says Revalidated only about it.
func TestFillMisusingOldFails(t *testing.T) {
	clk, c, _ := filledOnce(t, func(f *filler) { f.fresh, f.keep = 10*time.Second, time.Hour })
	now := clk.Advance(30 * time.Second)
	returnOld := func(_ context.Context, _ []byte, old *Entry) (*Entry, error) { return old, nil }
	if _, err := c.Fetch(context.Background(), Request{Key: []byte("k"), Now: now, MakeFill: fillWith(returnOld)}); !errors.Is(err, ErrInvalidEntry) {
		t.Fatalf("a fill returning old: %v, want ErrInvalidEntry", err)
	}
	claim := func(context.Context, []byte, *Entry) (*Entry, error) {
		return &Entry{Value: []byte("v"), FreshUntil: now.Add(time.Minute), Revalidated: true}, nil
	}
	if _, err := c.Fetch(context.Background(), Request{Key: []byte("new"), Now: now, MakeFill: fillWith(claim)}); !errors.Is(err, ErrInvalidEntry) {
		t.Fatalf("a fill revalidating without old: %v, want ErrInvalidEntry", err)
	}
}
