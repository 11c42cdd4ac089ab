package cache

import (
	"context"
	"testing"
	"time"

	"github.com/tiercel/tiercel/internal/testredis"
	"github.com/tiercel/tiercel/internal/testwait"
)

func TestInvalidateKeys(t *testing.T) {
	srv := testredis.Start(t)
	clk := newClock()
	a := newTiered(t, testConfig(), redisClient(t, srv), clk)
	b := newTiered(t, testConfig(), redisClient(t, srv), clk)
	f := newFiller(clk, "v%d")
	for _, k := range []string{"k1", "k2"} {
		fetch(t, a, k, nil, clk.Now(), f)
	}
	testwait.For(t, 10*time.Second, "the L2 writes", func() bool { return a.Stats().L2Writes == 2 })
	expect(t, fetch(t, b, "k1", nil, clk.Now(), f), OutcomeHitL2, "v1")
	settle(t, a)
	settle(t, b)

	n, err := a.Invalidate(context.Background(), Invalidation{Keys: [][]byte{[]byte("k1")}})
	if err != nil || n != 1 {
		t.Fatalf("Invalidate(keys) = %d, %v", n, err)
	}
	// a: L1 and L2 copies of k1 are both dead; k2 untouched.
	expect(t, fetch(t, a, "k1", nil, clk.Now(), f), OutcomeMiss, "v3")
	expect(t, fetch(t, a, "k2", nil, clk.Now(), f), OutcomeHitL1, "v2")
	// b keeps its L1 copy until it applies the event itself...
	expect(t, fetch(t, b, "k1", nil, clk.Now(), f), OutcomeHitL1, "v1")
	if _, err := b.Invalidate(context.Background(), Invalidation{Keys: [][]byte{[]byte("k1")}}); err != nil {
		t.Fatalf("b.Invalidate(keys): %v", err)
	}
	if res := fetch(t, b, "k1", nil, clk.Now(), f); string(res.Entry.Value) == "v1" {
		t.Fatalf("b served k1 filled before the invalidation it applied: %s", res.Outcome)
	}
}

func TestInvalidateTagsAcrossTiersAndInstances(t *testing.T) {
	srv := testredis.Start(t)
	clk := newClock()
	a := newTiered(t, testConfig(), redisClient(t, srv), clk)
	b := newTiered(t, testConfig(), redisClient(t, srv), clk)
	f := newFiller(clk, "v%d")
	user := []string{"user:1", "users"}
	fetch(t, a, "/users/1", user, clk.Now(), f)                        // v1
	fetch(t, a, "/users/1/posts", user, clk.Now(), f)                  // v2
	fetch(t, a, "/users/2", []string{"user:2", "users"}, clk.Now(), f) // v3
	testwait.For(t, 10*time.Second, "the L2 writes", func() bool { return a.Stats().L2Writes == 3 })
	expect(t, fetch(t, b, "/users/1", user, clk.Now(), f), OutcomeHitL2, "v1")
	settle(t, a)
	settle(t, b)

	n, err := a.Invalidate(context.Background(), Invalidation{Tags: []string{"user:1"}})
	if err != nil || n != 1 {
		t.Fatalf("Invalidate(tags) = %d, %v", n, err)
	}
	// a's L1 drops both user:1 entries, without a scan; user:2 stays.
	if _, _, ok := a.Get([]byte("/users/1"), clk.Now()); ok {
		t.Fatalf("a's L1 served an invalidated entry")
	}
	expect(t, fetch(t, a, "/users/2", []string{"user:2", "users"}, clk.Now(), f), OutcomeHitL1, "v3")
	// b's L2 reads see a's invalidation at once...
	expect(t, fetch(t, b, "/users/1/posts", user, clk.Now(), f), OutcomeMiss, "v4")
	// ...while b's L1 copy goes only when b applies the event.
	expect(t, fetch(t, b, "/users/1", user, clk.Now(), f), OutcomeHitL1, "v1")
	if _, err := b.Invalidate(context.Background(), Invalidation{Tags: []string{"user:1"}}); err != nil {
		t.Fatalf("b.Invalidate(tags): %v", err)
	}
	if res := fetch(t, b, "/users/1", user, clk.Now(), f); string(res.Entry.Value) == "v1" {
		t.Fatalf("b served an entry filled before the invalidation it applied: %s", res.Outcome)
	}

	// Across a restart: a new process has an empty L1 and no tombstones,
	// but the L2 generations still fence everything filled before.
	a.Close()
	fresh := newTiered(t, testConfig(), redisClient(t, srv), clk)
	expect(t, fetch(t, fresh, "/users/2", []string{"user:2", "users"}, clk.Now(), f), OutcomeHitL2, "v3")
	if _, err := fresh.Invalidate(context.Background(), Invalidation{Tags: []string{"users"}}); err != nil {
		t.Fatalf("Invalidate(tags): %v", err)
	}
	c := newTiered(t, testConfig(), redisClient(t, srv), clk)
	if res := fetch(t, c, "/users/2", []string{"user:2", "users"}, clk.Now(), f); res.Outcome != OutcomeMiss {
		t.Fatalf("after invalidating its tag, /users/2 was %s", res.Outcome)
	}
}

// The race version fencing exists for: a fill starts, an invalidation is
// applied while it runs, the fill then finishes with the old value. Neither
// its waiters nor any later read may get that value.
func TestFillOvertakenByInvalidation(t *testing.T) {
	invalidations := map[string]Invalidation{
		"key": {Keys: [][]byte{[]byte("k")}},
		"tag": {Tags: []string{"t"}},
	}
	for name, inv := range invalidations {
		invalidate := func(c *Tiered) error {
			_, err := c.Invalidate(context.Background(), inv)
			return err
		}
		t.Run(name+"/L1", func(t *testing.T) {
			clk := newClock()
			c := newTiered(t, testConfig(), nil, clk)
			raceFill(t, clk, c, c, invalidate)
		})
		t.Run(name+"/L2", func(t *testing.T) {
			srv := testredis.Start(t)
			clk := newClock()
			c := newTiered(t, testConfig(), redisClient(t, srv), clk)
			raceFill(t, clk, c, c, invalidate)
			// A second process reading L2 must not get it either.
			other := newTiered(t, testConfig(), redisClient(t, srv), clk)
			if res := fetch(t, other, "k", []string{"t"}, clk.Now(), newFiller(clk, "new")); string(res.Entry.Value) == "old" {
				t.Fatalf("another instance got the fenced value from L2")
			}
		})
		t.Run(name+"/L2 written by the late fill", func(t *testing.T) {
			// The invalidation is applied by another instance: the slow
			// instance does not know, keeps its fill in its own L1 and writes
			// it to L2 with the old generations. L2 readers must reject it.
			srv := testredis.Start(t)
			clk := newClock()
			slow := newTiered(t, testConfig(), redisClient(t, srv), clk)
			applier := newTiered(t, testConfig(), redisClient(t, srv), clk)
			f := newFiller(clk, "old")
			gate := make(chan struct{})
			f.set(func(f *filler) { f.gate = gate })
			done := goFetch(t, slow, "k", []string{"t"}, clk.Now(), f)
			testwait.For(t, 10*time.Second, "the fill to start", func() bool { return f.calls.Load() == 1 })
			if err := invalidate(applier); err != nil {
				t.Fatal(err)
			}
			close(gate)
			<-done
			testwait.For(t, 10*time.Second, "the late L2 write", func() bool { return slow.Stats().L2Writes == 1 })
			reader := newTiered(t, testConfig(), redisClient(t, srv), clk)
			res := fetch(t, reader, "k", []string{"t"}, clk.Now(), newFiller(clk, "new"))
			expect(t, res, OutcomeMiss, "new")
			res = fetch(t, applier, "k", []string{"t"}, clk.Now(), newFiller(clk, "new"))
			if string(res.Entry.Value) == "old" {
				t.Fatalf("the applier got the old value from L2")
			}
		})
	}
}

// raceFill blocks a fill of "k" in filler, invalidates through inv, releases
// the fill, then checks that reader never returns the old value.
func raceFill(t *testing.T, clk *clock, c, reader *Tiered, inv func(*Tiered) error) {
	t.Helper()
	f := newFiller(clk, "old")
	gate := make(chan struct{})
	f.set(func(f *filler) { f.gate = gate })
	done := goFetch(t, c, "k", []string{"t"}, clk.Now(), f)
	testwait.For(t, 10*time.Second, "the fill to start", func() bool { return f.calls.Load() == 1 })

	if err := inv(c); err != nil {
		t.Fatalf("invalidate: %v", err)
	}
	f.set(func(f *filler) { f.value, f.gate = "new", nil })
	close(gate)
	// The waiter that started before the invalidation gets a new fill too.
	expect(t, <-done, OutcomeMiss, "new")
	if st := c.Stats(); st.Fenced == 0 {
		t.Fatalf("no fenced fill counted: %+v", st)
	}
	settle(t, c)
	res := fetch(t, reader, "k", []string{"t"}, clk.Now(), f)
	expect(t, res, OutcomeHitL1, "new")
	if e, _, ok := reader.Get([]byte("k"), clk.Now()); !ok || string(e.Value) != "new" {
		t.Fatalf("Get after the race: %v %v", e, ok)
	}
}

func TestFenceTombstonesExpireAndStayBounded(t *testing.T) {
	at := time.Unix(1000, 0)
	fe := newFence(time.Minute, 3)
	s1 := fe.next()
	fe.invalidate(at, [][]byte{[]byte("k")}, nil)
	if fe.valid(s1, []byte("k"), nil) || !fe.valid(s1, []byte("other"), []string{"t"}) {
		t.Fatalf("key tombstone wrong")
	}
	s2 := fe.next()
	if !fe.valid(s2, []byte("k"), nil) {
		t.Fatalf("a fill after the invalidation is fenced")
	}
	// Past the TTL the tombstone is dropped, but the floor keeps fencing
	// what was filled before it.
	fe.invalidate(at.Add(2*time.Minute), nil, []string{"t"})
	if fe.size() != 1 || fe.valid(s1, []byte("k"), nil) {
		t.Fatalf("after expiry: %d tombstones, s1 valid %v", fe.size(), fe.valid(s1, []byte("k"), nil))
	}
	if !fe.valid(s2, []byte("k"), nil) || fe.valid(s2, nil, []string{"t"}) {
		t.Fatalf("s2 fenced by the wrong tombstone")
	}
	// Bounded: beyond max, the oldest go and raise the floor.
	for i := range 10 {
		fe.invalidate(at.Add(2*time.Minute), [][]byte{{byte(i)}}, nil)
	}
	if fe.size() > 3 {
		t.Fatalf("%d tombstones, max 3", fe.size())
	}
	if fe.valid(s2, []byte("k"), nil) {
		t.Fatalf("an entry older than a dropped tombstone is valid")
	}
}

// An L2 read in the window between an invalidation's local tombstone and
// its generation bump sees the old generations and the old entry. The
// pending mark (pending.go) keeps it from being served, in the window and
// after the invalidation has returned; once the bump is confirmed, L2 is
// used again.
func TestL2ReadBetweenLocalAndL2Invalidation(t *testing.T) {
	srv := testredis.Start(t)
	clk := newClock()
	a := newTiered(t, testConfig(), redisClient(t, srv), clk)
	b := newTiered(t, testConfig(), redisClient(t, srv), clk)
	f := newFiller(clk, "v%d")
	fetch(t, a, "k", []string{"t"}, clk.Now(), f)
	testwait.For(t, 10*time.Second, "the L2 write", func() bool { return a.Stats().L2Writes == 1 })

	b.testHookInvalidate = func() {
		if res := fetch(t, b, "k", []string{"t"}, clk.Now(), f); string(res.Entry.Value) == "v1" {
			t.Errorf("served the L2 entry read before the generation bump: %s", res.Outcome)
		}
		settle(t, b)
	}
	if _, err := b.Invalidate(context.Background(), Invalidation{Tags: []string{"t"}}); err != nil {
		t.Fatal(err)
	}
	b.testHookInvalidate = nil
	if res := fetch(t, b, "k", []string{"t"}, clk.Now(), f); string(res.Entry.Value) == "v1" {
		t.Fatalf("served the entry read before the generation bump: %s", res.Outcome)
	}
	if st := b.Stats(); st.L2PendingMiss != 1 || st.L2Pending != 0 {
		t.Fatalf("%d L2 entries refused while pending (want 1), %d marks left (want 0)", st.L2PendingMiss, st.L2Pending)
	}
	// Confirmed: a's next fill goes to L2 and b reads it from there.
	expect(t, fetch(t, a, "k2", []string{"t"}, clk.Now(), f), OutcomeMiss, "v4")
	testwait.For(t, 10*time.Second, "the L2 write", func() bool { return a.Stats().L2Writes == 2 })
	expect(t, fetch(t, b, "k2", []string{"t"}, clk.Now(), f), OutcomeHitL2, "v4")
}
