package cache

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tiercel/tiercel/internal/breaker"
	"github.com/tiercel/tiercel/internal/testredis"
	"github.com/tiercel/tiercel/internal/testwait"
)

// clock is a controllable time source: tests walk entries through their
// windows by advancing it, never by sleeping.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().Round(0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// testConfig keeps the breaker quick so fault tests see it move.
func testConfig() Config {
	return Config{
		L1MaxBytes: 8 * mib,
		L2Timeout:  50 * time.Millisecond, // generous: CI machines under -race
		Breaker:    breaker.Config{Failures: 2, Cooldown: 50 * time.Millisecond},
	}
}

// newTiered returns a cache on clk, closed when the test ends.
func newTiered(t testing.TB, cfg Config, rdb redis.UniversalClient, clk *clock) *Tiered {
	t.Helper()
	c, err := New(cfg, rdb, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	c.now = clk.Now
	t.Cleanup(c.Close)
	return c
}

// redisClient connects to srv the way production should: with context
// deadlines applied to socket I/O.
func redisClient(t testing.TB, srv *testredis.Server) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{
		Addr:                  srv.Addr,
		ContextTimeoutEnabled: true,
		MaxRetries:            -1,
		DialTimeout:           200 * time.Millisecond,
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// filler is a FillFunc whose results and blocking the test controls.
type filler struct {
	clk   *clock
	calls atomic.Int64

	mu    sync.Mutex
	value string        // returned value; "%d" is replaced by the call number
	err   error         // returned instead of an entry when set
	gate  chan struct{} // when set, calls block until it is closed (or ctx ends)
	fresh time.Duration
	stale time.Duration // stale-while-revalidate window after fresh
	errw  time.Duration // stale-if-error window after fresh
	keep  time.Duration // keep window after fresh (zero: none)

	// revalidate makes a call given an old entry answer as a 304 would:
	// old's value, Revalidated, new windows.
	revalidate bool

	olds []*Entry // the old entry of each call, in order
}

func newFiller(clk *clock, value string) *filler {
	return &filler{clk: clk, value: value, fresh: time.Minute}
}

func (f *filler) set(fn func(f *filler)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// fillWith is a Request.MakeFill that makes fill.
func fillWith(fill FillFunc) func() FillFunc { return func() FillFunc { return fill } }

func (f *filler) fill(ctx context.Context, key []byte, old *Entry) (*Entry, error) {
	n := f.calls.Add(1)
	f.mu.Lock()
	gate, value, err := f.gate, f.value, f.err
	fresh, stale, errw, keep := f.fresh, f.stale, f.errw, f.keep
	revalidate := f.revalidate && old != nil
	f.olds = append(f.olds, old)
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err != nil {
		return nil, err
	}
	if strings.Contains(value, "%d") {
		value = fmt.Sprintf(value, n)
	}
	now := f.clk.Now()
	e := &Entry{
		Value:      []byte(value),
		StoredAt:   now,
		FreshUntil: now.Add(fresh),
		StaleUntil: now.Add(fresh + stale),
		ErrorUntil: now.Add(fresh + errw),
	}
	if keep > 0 {
		e.KeepUntil = now.Add(fresh + keep)
	}
	if revalidate {
		e.Value, e.Revalidated = old.Value, true // shared: both read-only
	}
	return e, nil
}

// old returns the old entry the fill's call i (from 1) was given.
func (f *filler) old(t testing.TB, i int) *Entry {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if i > len(f.olds) {
		t.Fatalf("fill called %d times, want at least %d", len(f.olds), i)
	}
	return f.olds[i-1]
}

// fetch calls c.Fetch and fails the test on error.
func fetch(t testing.TB, c *Tiered, key string, tags []string, now time.Time, f *filler) Result {
	t.Helper()
	res, err := c.Fetch(context.Background(), Request{Key: []byte(key), Tags: tags, Now: now, MakeFill: fillWith(f.fill)})
	if err != nil {
		t.Fatalf("Fetch(%q): %v", key, err)
	}
	return res
}

// goFetch runs Fetch on another goroutine; the result arrives on the channel.
func goFetch(t testing.TB, c *Tiered, key string, tags []string, now time.Time, f *filler) <-chan Result {
	done := make(chan Result, 1)
	go func() {
		res, err := c.Fetch(context.Background(), Request{Key: []byte(key), Tags: tags, Now: now, MakeFill: fillWith(f.fill)})
		if err != nil {
			t.Errorf("Fetch(%q): %v", key, err)
		}
		done <- res
	}()
	return done
}

// expect checks one Fetch's outcome and value.
func expect(t testing.TB, res Result, outcome Outcome, value string) {
	t.Helper()
	if res.Outcome != outcome || res.Entry == nil || string(res.Entry.Value) != value {
		got := "<nil>"
		if res.Entry != nil {
			got = string(res.Entry.Value)
		}
		t.Fatalf("got %s %q, want %s %q", res.Outcome, got, outcome, value)
	}
}

// settle waits until c's L1 writes and finished flights are visible, so the
// next Fetch sees them.
func settle(t testing.TB, c *Tiered) {
	t.Helper()
	c.l1.wait()
	testwait.For(t, 10*time.Second, "flights to finish", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.flights) == 0
	})
}

// filledOnce returns an L1-only cache whose key "k" was fetched once: a miss,
// filled with v1 by f under the windows that set gives it, and settled.
func filledOnce(t testing.TB, set func(f *filler)) (*clock, *Tiered, *filler) {
	t.Helper()
	clk := newClock()
	c := newTiered(t, testConfig(), nil, clk)
	f := newFiller(clk, "v%d")
	f.set(set)
	expect(t, fetch(t, c, "k", nil, clk.Now(), f), OutcomeMiss, "v1")
	settle(t, c)
	return clk, c, f
}

var errOrigin = errors.New("origin down")

// processCPU is the CPU time this process has used.
func processCPU(t testing.TB) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// serversCPU is the CPU time the redis-servers at addrs have used (INFO
// cpu).
func serversCPU(t testing.TB, addrs []string) time.Duration {
	t.Helper()
	var sum time.Duration
	for _, addr := range addrs {
		for _, field := range []string{"used_cpu_sys", "used_cpu_user"} {
			v, err := strconv.ParseFloat(infoField(t, addr, "cpu", field), 64)
			if err != nil {
				t.Fatalf("%s %s: %v", addr, field, err)
			}
			sum += time.Duration(v * float64(time.Second))
		}
	}
	return sum
}

// infoField returns one field of the server at addr's INFO section.
func infoField(t testing.TB, addr, section, field string) string {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	info, err := c.Info(context.Background(), section).Result()
	if err != nil {
		t.Fatalf("INFO %s at %s: %v", section, addr, err)
	}
	for line := range strings.Lines(info) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && k == field {
			return v
		}
	}
	return ""
}

// entryName and keyGenName are the Redis names of key's entry and key
// generation under prefix.
func entryName(prefix, key string) string  { return (&l2{prefix: prefix}).entryKey([]byte(key)) }
func keyGenName(prefix, key string) string { return (&l2{prefix: prefix}).keyGenKey([]byte(key)) }
