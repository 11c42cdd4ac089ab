package cache

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tiercel/tiercel/internal/testredis"
	"github.com/tiercel/tiercel/internal/testwait"
)

// Every replica applies every event: the L2 part must happen once per event
// id, and a replica told "already applied" must see the bump done.
func TestInvalidateOncePerEventAcrossInstances(t *testing.T) {
	srv := testredis.Start(t)
	rdb := redisClient(t, srv)
	clk := newClock()
	replicas := make([]*Tiered, 4)
	for i := range replicas {
		replicas[i] = newTiered(t, testConfig(), redisClient(t, srv), clk)
	}
	// Generations created anew start from the server clock: create them
	// first, so the test can count bumps as differences.
	if _, err := replicas[0].Invalidate(context.Background(), Invalidation{ID: "evt-0", Tags: []string{"product:42"}, Keys: [][]byte{[]byte("/k")}}); err != nil {
		t.Fatal(err)
	}
	f := newFiller(clk, "v%d")
	fetch(t, replicas[0], "/p/42", []string{"product:42"}, clk.Now(), f)
	fetch(t, replicas[0], "/k", nil, clk.Now(), f)
	testwait.For(t, 10*time.Second, "the L2 writes", func() bool { return replicas[0].Stats().L2Writes == 2 })
	for _, r := range replicas[1:] {
		expect(t, fetch(t, r, "/p/42", []string{"product:42"}, clk.Now(), f), OutcomeHitL2, "v1")
		settle(t, r)
	}
	tagGen := func() string { return rdb.Get(context.Background(), "tiercel:tg:product:42").Val() }
	keyGen := func() string { return rdb.Get(context.Background(), keyGenName("tiercel:", "/k")).Val() }
	before, beforeKey := tagGen(), keyGen()

	inv := Invalidation{ID: "evt-1", Tags: []string{"product:42"}, Keys: [][]byte{[]byte("/k")}}
	var wg sync.WaitGroup
	for _, r := range replicas {
		wg.Go(func() {
			if n, err := r.Invalidate(context.Background(), inv); err != nil || n != 2 {
				t.Errorf("Invalidate = %d, %v", n, err)
			}
			// Whoever applied it, the bump is in effect when Invalidate returns.
			if tagGen() == before || keyGen() == beforeKey {
				t.Errorf("Invalidate returned before the generations were bumped")
			}
		})
	}
	wg.Wait()
	after := tagGen()
	if bumps := genDelta(t, before, after); bumps != 1 {
		t.Fatalf("tag generation bumped %d times by one event on %d replicas", bumps, len(replicas))
	}
	var deduped uint64
	for _, r := range replicas {
		deduped += r.Stats().L2Deduped
	}
	if want := uint64(2 * (len(replicas) - 1)); deduped != want {
		t.Fatalf("L2Deduped = %d, want %d", deduped, want)
	}
	// Every replica's L1 copy went (the local part always applies).
	for i, r := range replicas {
		if _, _, ok := r.Get([]byte("/p/42"), clk.Now()); ok {
			t.Fatalf("replica %d still serves the invalidated entry from L1", i)
		}
	}
	// A replay of the same id bumps nothing: a refilled entry stays an L2 hit.
	fetch(t, replicas[0], "/p/42", []string{"product:42"}, clk.Now(), f)
	testwait.For(t, 10*time.Second, "the refill's L2 write", func() bool { return replicas[0].Stats().L2Writes == 3 })
	if _, err := replicas[0].Invalidate(context.Background(), inv); err != nil {
		t.Fatal(err)
	}
	if tagGen() != after {
		t.Fatalf("a replayed event bumped the generation again")
	}
	other := newTiered(t, testConfig(), redisClient(t, srv), clk)
	if res := fetch(t, other, "/p/42", []string{"product:42"}, clk.Now(), f); res.Outcome != OutcomeHitL2 {
		t.Fatalf("entry filled after the event, read after its replay: %s", res.Outcome)
	}
	// Another event id bumps again.
	if _, err := replicas[1].Invalidate(context.Background(), Invalidation{ID: "evt-2", Tags: []string{"product:42"}}); err != nil {
		t.Fatal(err)
	}
	if genDelta(t, after, tagGen()) != 1 {
		t.Fatalf("a new event id did not bump")
	}
}

func genDelta(t *testing.T, before, after string) uint64 {
	t.Helper()
	b, err1 := strconv.ParseUint(before, 10, 64)
	a, err2 := strconv.ParseUint(after, 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("generations %q -> %q", before, after)
	}
	return a - b
}

// Every generation key gets a marker in its own slot, braces or not (path
// tags are "{}path:/..."); TestCluster/KeySlot checks keySlot against Redis.
func TestMarkerKeySharesTheGenerationsSlot(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for _, prefix := range []string{"tiercel:", "{tiercel}:", "a}b:", ""} {
		l := &l2{prefix: prefix}
		f := func(genKey string) {
			t.Helper()
			m := l.markerKey(genKey, "evt-{x}")
			if keySlot(m) != keySlot(genKey) || !strings.HasPrefix(m, prefix) {
				t.Fatalf("marker %q in slot %d, generation %q in slot %d", m, keySlot(m), genKey, keySlot(genKey))
			}
		}
		for _, name := range []string{"product:42", "{user}:1", "{}path:/x", "a{}b", "a}b{c", "a{b", "{", "}", ""} {
			f(prefix + "tg:" + name)
			f(l.keyGenKey([]byte(name)))
		}
		for range 1000 {
			f(prefix + "tg:" + randomKey(rnd))
		}
	}
	// The id's length keeps (genKey, id) pairs apart where a separator
	// alone would not: a shared marker would skip a bump.
	l := &l2{prefix: "p:"}
	if l.markerKey("p:tg:a:b", "c") == l.markerKey("p:tg:a", "b:c") {
		t.Fatalf("two events on two tags share a marker")
	}
}

// DropL1 (after a long Kafka disconnect) must make every older L1 entry a
// miss, fence fills in flight, and keep later entries and L2 working.
func TestDropL1(t *testing.T) {
	srv := testredis.Start(t)
	clk := newClock()
	c := newTiered(t, testConfig(), redisClient(t, srv), clk)
	f := newFiller(clk, "v%d")
	for i := range 3 {
		fetch(t, c, fmt.Sprintf("k%d", i), []string{"t"}, clk.Now(), f)
	}
	testwait.For(t, 10*time.Second, "the L2 writes", func() bool { return c.Stats().L2Writes == 3 })
	settle(t, c)
	expect(t, fetch(t, c, "k0", []string{"t"}, clk.Now(), f), OutcomeHitL1, "v1")

	// A fill in flight across the drop must not be stored or served.
	slow := newFiller(clk, "old")
	gate := make(chan struct{})
	slow.set(func(f *filler) { f.gate = gate })
	done := goFetch(t, c, "inflight", nil, clk.Now(), slow)
	testwait.For(t, 10*time.Second, "the fill to start", func() bool { return slow.calls.Load() == 1 })

	c.DropL1()
	slow.set(func(f *filler) { f.value, f.gate = "new", nil })
	close(gate)
	expect(t, <-done, OutcomeMiss, "new")
	for i := range 3 {
		key := fmt.Sprintf("k%d", i)
		if _, _, ok := c.Get([]byte(key), clk.Now()); ok {
			t.Fatalf("%s: an entry filled before DropL1 is still an L1 hit", key)
		}
		// L2 was not touched: the entries come back from it.
		expect(t, fetch(t, c, key, []string{"t"}, clk.Now(), f), OutcomeHitL2, fmt.Sprintf("v%d", i+1))
	}
	settle(t, c)
	expect(t, fetch(t, c, "k0", []string{"t"}, clk.Now(), f), OutcomeHitL1, "v1")
	if st := c.Stats(); st.L1Drops != 1 || st.Fenced == 0 {
		t.Fatalf("stats after DropL1: %+v", st)
	}
	c.Close()
	c.DropL1() // after Close: a no-op, not a panic
}

// DropL1 racing with hits, fills and Close must be safe (run with -race).
func TestDropL1Concurrent(t *testing.T) {
	clk := newClock()
	c := newTiered(t, testConfig(), nil, clk)
	f := newFiller(clk, "v")
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				key := fmt.Sprintf("k%d", (g*7+i)%16)
				// ErrFenced is a legitimate answer when drops keep overtaking fills.
				_, err := c.Fetch(context.Background(), Request{Key: []byte(key), Now: clk.Now(), MakeFill: fillWith(f.fill)})
				if err != nil && !errors.Is(err, ErrFenced) {
					t.Errorf("Fetch: %v", err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			c.DropL1()
		}
	})
	wg.Wait()
	c.Close()
}
