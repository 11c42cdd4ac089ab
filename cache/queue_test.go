package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tiercel/tiercel/internal/testredis"
	"github.com/tiercel/tiercel/internal/testwait"
)

// With the batcher stuck in a round trip to a hung Redis (a client that
// ignores context deadlines), every lookup queued behind it is answered by
// the reaper with a timeout, whenever it was submitted: none waits for the
// stuck call. fetchBound is a hang detector, not a latency assertion.
func TestReaperAnswersLookupsQueuedBehindAHungBatch(t *testing.T) {
	srv := testredis.Start(t)
	clk := newClock()
	c := newTiered(t, testConfig(), srv.Client(), clk) // default client: ReadTimeout 3s
	srv.Pause()
	defer srv.Resume()
	check := func(i int) error {
		lk := &l2Lookup{key: fmt.Appendf(nil, "k%d", i)}
		start := time.Now()
		err := c.l2.lookup(lk, start)
		if took := time.Since(start); !errors.Is(err, context.DeadlineExceeded) || took > fetchBound {
			return fmt.Errorf("lookup %d: %v after %v, want a timeout", i, err, took)
		}
		return nil
	}
	// A burst, then one at a time: each of the later ones is queued after
	// the reaper fired for the earlier ones, and needs a new arming.
	const burst, serial = 10, 10
	var wg sync.WaitGroup
	errs := make([]error, burst)
	for i := range burst {
		wg.Go(func() { errs[i] = check(i) })
	}
	wg.Wait()
	for i := range serial {
		errs = append(errs, check(burst+i))
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.L2Timeouts < uint64(len(errs)) {
		t.Fatalf("L2Timeouts = %d, want >= %d", st.L2Timeouts, len(errs))
	}
}

// Close answers the lookups still waiting (ErrClosed), and a lookup
// submitted afterwards is refused at once.
func TestCloseAnswersPendingLookups(t *testing.T) {
	srv := testredis.Start(t)
	clk := newClock()
	cfg := testConfig()
	cfg.L2Timeout = time.Second // longer than the test waits: only Close can answer
	c := newTiered(t, cfg, srv.Client(), clk)
	srv.Pause()
	defer srv.Resume()
	const n = 5
	errs := make(chan error, n)
	for i := range n {
		go func() { errs <- c.l2.lookup(&l2Lookup{key: fmt.Appendf(nil, "k%d", i)}, time.Now()) }()
	}
	testwait.For(t, 10*time.Second, "the lookups to be submitted", func() bool { return c.Stats().L2Reads == n })
	closed := make(chan struct{})
	go func() {
		c.Close() // returns once the stuck batcher does, after Resume
		close(closed)
	}()
	hang := time.After(fetchBound)
	for range n {
		select {
		case err := <-errs:
			if !errors.Is(err, ErrClosed) {
				t.Fatalf("lookup = %v, want ErrClosed", err)
			}
		case <-hang:
			t.Fatal("lookups still waiting after Close")
		}
	}
	if err := c.l2.lookup(&l2Lookup{key: []byte("late")}, time.Now()); !errors.Is(err, ErrClosed) {
		t.Fatalf("lookup after Close = %v, want ErrClosed", err)
	}
	srv.Resume()
	<-closed
}

// Tiered.Wait covers the L1 copy of an L2 hit: made by the retire loop, it
// is visible once Wait returns.
func TestWaitCoversL2HitPromotion(t *testing.T) {
	srv := testredis.Start(t)
	clk := newClock()
	a := newTiered(t, testConfig(), redisClient(t, srv), clk)
	b := newTiered(t, testConfig(), redisClient(t, srv), clk)
	f := newFiller(clk, "v%d")
	for i := range 20 {
		fetch(t, a, fmt.Sprintf("k%d", i), []string{"t"}, clk.Now(), f)
	}
	testwait.For(t, 10*time.Second, "the L2 writes", func() bool { return a.Stats().L2Writes == 20 })
	for i := range 20 {
		key := fmt.Sprintf("k%d", i)
		expect(t, fetch(t, b, key, []string{"t"}, clk.Now(), f), OutcomeHitL2, fmt.Sprintf("v%d", i+1))
		b.Wait()
		if e, fr, ok := b.Get([]byte(key), clk.Now()); !ok || fr != Fresh || string(e.Value) != fmt.Sprintf("v%d", i+1) {
			t.Fatalf("Get(%s) after Wait = %v, %s, %v", key, e, fr, ok)
		}
	}
}
