package cache

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tiercel/tiercel/internal/testredis"
	"github.com/tiercel/tiercel/internal/testwait"
)

// fetchBound is a hang detector, not a latency assertion: a Fetch against a
// dead or hung Redis must come back long before it.
const fetchBound = 2 * time.Second

// The fault tests walk Redis through kill/restart and stop/continue and
// check that requests keep being answered, from L1 or the fill, and that the
// cache goes back to two tiers when Redis returns.
func TestRedisFaults(t *testing.T) {
	faults := []struct {
		name          string
		fail, recover func(*testredis.Server)
	}{
		{"killed then restarted", (*testredis.Server).Kill, (*testredis.Server).Restart},
		{"stopped then continued", (*testredis.Server).Pause, (*testredis.Server).Resume},
	}
	for _, fault := range faults {
		t.Run(fault.name, func(t *testing.T) {
			srv := testredis.Start(t)
			clk := newClock()
			cfg := testConfig()
			// Long enough that the breaker cannot half-open between the
			// checks made while it is open.
			cfg.Breaker.Cooldown = time.Second
			c := newTiered(t, cfg, redisClient(t, srv), clk)
			f := newFiller(clk, "v%d")
			expect(t, fetch(t, c, "cached", nil, clk.Now(), f), OutcomeMiss, "v1")
			settle(t, c)
			if c.L2State() != "closed" {
				t.Fatalf("L2State = %s before the fault", c.L2State())
			}

			fault.fail(srv)
			for i := 0; c.L2State() != "open"; i++ {
				if i == 100 {
					t.Fatalf("breaker still %s after %d fetches", c.L2State(), i)
				}
				key := fmt.Sprintf("during-%d", i)
				res := boundedFetch(t, c, key, f)
				if res.Outcome != OutcomeMiss {
					t.Fatalf("%s: %s", key, res.Outcome)
				}
			}
			// Open: L1 keeps serving, misses go straight to the fill.
			expect(t, boundedFetch(t, c, "cached", f), OutcomeHitL1, "v1")
			before := c.Stats()
			if res := boundedFetch(t, c, "while-open", f); res.Outcome != OutcomeMiss {
				t.Fatalf("while open: %s", res.Outcome)
			}
			if st := c.Stats(); st.L2Skipped == before.L2Skipped || st.L2Reads != before.L2Reads {
				t.Fatalf("L2 not skipped while open: before %+v after %+v", before, st)
			}
			if st := c.Stats(); st.L2Errors+st.L2Timeouts == 0 {
				t.Fatalf("no L2 failure counted: %+v", st)
			}

			fault.recover(srv)
			// Back to two tiers: the half-open probe closes the breaker, then
			// an entry written by c is an L2 hit for another instance.
			probes := 0
			testwait.For(t, 10*time.Second, "the breaker to close", func() bool {
				probes++ // a new key each time: an L1 hit would not probe
				boundedFetch(t, c, fmt.Sprintf("probe-%d", probes), f)
				return c.L2State() == "closed"
			})
			res := boundedFetch(t, c, "after", f)
			// L2 writes are asynchronous: wait for this entry's own write (a
			// counter would also count the probes' writes).
			rdb := srv.Client()
			testwait.For(t, 10*time.Second, "the L2 write", func() bool {
				return rdb.Exists(context.Background(), entryName(testConfig().withDefaults().KeyPrefix, "after")).Val() == 1
			})
			other := newTiered(t, testConfig(), redisClient(t, srv), clk)
			expect(t, fetch(t, other, "after", nil, clk.Now(), f), OutcomeHitL2, string(res.Entry.Value))
		})
	}
}

func boundedFetch(t *testing.T, c *Tiered, key string, f *filler) Result {
	t.Helper()
	start := time.Now()
	res := fetch(t, c, key, nil, time.Time{}, f)
	if d := time.Since(start); d > fetchBound {
		t.Fatalf("Fetch(%q) took %v", key, d)
	}
	return res
}

func TestInvalidateWithRedisDown(t *testing.T) {
	srv := testredis.Start(t)
	clk := newClock()
	c := newTiered(t, testConfig(), redisClient(t, srv), clk)
	f := newFiller(clk, "v%d")
	fetch(t, c, "k", []string{"t"}, clk.Now(), f)
	settle(t, c)
	srv.Kill()
	n, err := c.Invalidate(context.Background(), Invalidation{Tags: []string{"t"}})
	if err == nil || n != 0 {
		t.Fatalf("Invalidate(tags) with redis down = %d, %v; want an error", n, err)
	}
	// The local part was applied regardless.
	if res := fetch(t, c, "k", []string{"t"}, clk.Now(), f); string(res.Entry.Value) == "v1" {
		t.Fatalf("served an invalidated entry")
	}
}

func TestCloseLeavesNoGoroutine(t *testing.T) {
	srv := testredis.Start(t)
	rdb := redisClient(t, srv)
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	base := runtime.NumGoroutine()

	clk := newClock()
	c, err := New(testConfig(), rdb, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.now = clk.Now
	f := newFiller(clk, "v%d")
	f.set(func(f *filler) { f.fresh, f.stale = time.Second, time.Hour })
	for i := range 20 {
		fetch(t, c, fmt.Sprintf("k%d", i), []string{"t"}, clk.Now(), f)
	}
	settle(t, c)
	// Leave a background refresh and a fill hanging: Close must end them.
	gate := make(chan struct{})
	defer close(gate)
	f.set(func(f *filler) { f.gate = gate })
	fetch(t, c, "k0", []string{"t"}, clk.Advance(time.Minute), f)
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	c.Fetch(ctx, Request{Key: []byte("hanging"), MakeFill: fillWith(f.fill)}) //nolint:errcheck // only its flight matters
	c.Close()

	waitGoroutines(t, base)
}

// waitGoroutines waits until no more goroutines run than base, the count
// before New: those Close waited for may still be unwinding.
func waitGoroutines(t testing.TB, base int) {
	t.Helper()
	if !testwait.Until(5*time.Second, func() bool { return runtime.NumGoroutine() <= base }) {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		t.Fatalf("%d goroutines after Close, %d before New:\n%s", runtime.NumGoroutine(), base, filterStacks(stacks))
	}
}

// filterStacks keeps the goroutines that mention this package.
func filterStacks(all string) string {
	var keep []string
	for _, g := range strings.Split(all, "\n\n") {
		if strings.Contains(g, "tiercel/cache") || strings.Contains(g, "ristretto") {
			keep = append(keep, g)
		}
	}
	return strings.Join(keep, "\n\n")
}

// With a client that ignores context deadlines (go-redis' default), a hung
// Redis holds the batcher for the client's ReadTimeout; requests must still
// leave after L2Timeout.
func TestHungRedisWithDefaultClient(t *testing.T) {
	srv := testredis.Start(t)
	clk := newClock()
	c := newTiered(t, testConfig(), srv.Client(), clk)
	f := newFiller(clk, "v%d")
	expect(t, fetch(t, c, "warm", nil, clk.Now(), f), OutcomeMiss, "v1")
	srv.Pause()
	defer srv.Resume()
	for i := range 5 {
		if res := boundedFetch(t, c, fmt.Sprintf("k%d", i), f); res.Outcome != OutcomeMiss {
			t.Fatalf("k%d: %s", i, res.Outcome)
		}
	}
	if st := c.Stats(); st.L2Timeouts+st.L2Skipped < 5 {
		t.Fatalf("stats %+v", st)
	}
}
