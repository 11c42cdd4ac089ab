package cache

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tiercel/tiercel/internal/redisconn"
	"github.com/tiercel/tiercel/internal/testredis"
	"github.com/tiercel/tiercel/internal/testwait"
)

// TestCluster runs the cache on a real Redis Cluster of three masters, as
// replicas share it in production. One cluster serves every subtest (each
// under its own key prefix): starting one takes a second or more.
func TestCluster(t *testing.T) {
	cl := testredis.StartCluster(t, 3, 0)
	t.Run("KeySlot", func(t *testing.T) { testClusterKeySlot(t, cl) })
	t.Run("ReplicasShareL2", func(t *testing.T) { testClusterReplicasShareL2(t, cl) })
	t.Run("InvalidationFencesOtherReplica", func(t *testing.T) { testClusterInvalidation(t, cl) })
	t.Run("EventBumpsOnce", func(t *testing.T) { testClusterEventBumpsOnce(t, cl) })
	t.Run("SingleNodeClientOpensBreaker", func(t *testing.T) { testClusterSingleNodeClient(t, cl) })
}

// clusterConn builds the cluster client as production does (redisconn,
// with its hook).
func clusterConn(t testing.TB, cl *testredis.Cluster) *redisconn.Conn {
	t.Helper()
	return newConn(t, redisconn.Config{Mode: redisconn.ModeCluster, Addrs: cl.Addrs()})
}

func newConn(t testing.TB, cfg redisconn.Config) *redisconn.Conn {
	t.Helper()
	cfg.SetDefaults()
	c, err := redisconn.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// clusterConfig is testConfig under its own prefix, with a read budget
// that three nodes' goroutines per batch meet under -race.
func clusterConfig(prefix string) Config {
	cfg := testConfig()
	cfg.KeyPrefix = prefix
	cfg.L2Timeout = 500 * time.Millisecond
	return cfg
}

// keysOnEveryMaster returns keys named by name(i) whose entries, under
// prefix, land on every master of cl.
func keysOnEveryMaster(t *testing.T, cl *testredis.Cluster, prefix string, name func(int) string) []string {
	t.Helper()
	masters := len(cl.Masters())
	seen := map[string]bool{}
	var keys []string
	for i := 0; len(seen) < masters; i++ {
		if i == 100 {
			t.Fatalf("100 keys land on %d of %d masters", len(seen), masters)
		}
		keys = append(keys, name(i))
		seen[cl.MasterFor((&l2{prefix: prefix}).entryKey([]byte(name(i)))).Addr] = true
	}
	return keys
}

// keySlot must agree with Redis on any key: braces, empty tags, binary.
func testClusterKeySlot(t *testing.T, cl *testredis.Cluster) {
	node := redis.NewClient(&redis.Options{Addr: cl.Nodes[0].Addr})
	defer node.Close()
	ctx := context.Background()
	keys := []string{"", "{}", "{}path:/x", "tiercel:tg:{}path:/api/products/42", "{a}", "a{b}c", "{{a}}", "a{", "}{a}", "{}{a}", "\x00{\xff}"}
	rnd := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		keys = append(keys, randomKey(rnd))
	}
	l := &l2{prefix: "tiercel:"}
	for _, k := range keys[:100] {
		keys = append(keys, l.markerKey("tiercel:tg:"+k, "evt-1"),
			l.entryKey([]byte(k)), l.keyGenKey([]byte(k)), l.markerKey(l.keyGenKey([]byte(k)), "evt-1"))
	}
	pipe := node.Pipeline()
	cmds := make([]*redis.IntCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.ClusterKeySlot(ctx, k)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		if want := int(cmds[i].Val()); keySlot(k) != want {
			t.Fatalf("keySlot(%q) = %d, CLUSTER KEYSLOT = %d", k, keySlot(k), want)
		}
	}
}

// Two replicas share the cluster: one's fills are the other's L2 hits, on
// every master; missing keys are no failure.
func testClusterReplicasShareL2(t *testing.T, cl *testredis.Cluster) {
	cfg := clusterConfig("share:")
	clk := newClock()
	connA, connB := clusterConn(t, cl), clusterConn(t, cl)
	a := newTiered(t, cfg, connA.Client, clk)
	b := newTiered(t, cfg, connB.Client, clk)
	if a.l2.mget {
		t.Fatal("a cluster client reads with MGET")
	}
	keys := keysOnEveryMaster(t, cl, cfg.KeyPrefix, func(i int) string { return fmt.Sprintf("/items/%d", i) })
	tags := func(key string) []string { return []string{"items", "{}path:" + key} }
	f := newFiller(clk, "v%d")
	for i, k := range keys {
		expect(t, fetch(t, a, k, tags(k), clk.Now(), f), OutcomeMiss, fmt.Sprintf("v%d", i+1))
	}
	testwait.For(t, 10*time.Second, "the L2 writes", func() bool { return a.Stats().L2Writes == uint64(len(keys)) })
	// Concurrently, so that batches span the masters.
	results := make([]<-chan Result, len(keys))
	for i, k := range keys {
		results[i] = goFetch(t, b, k, tags(k), clk.Now(), f)
	}
	for i, k := range keys {
		if res := <-results[i]; res.Outcome != OutcomeHitL2 || string(res.Entry.Value) != fmt.Sprintf("v%d", i+1) {
			t.Fatalf("%s: %s on the second replica", k, res.Outcome)
		}
	}
	if n := f.calls.Load(); n != int64(len(keys)) {
		t.Fatalf("%d fills for %d keys", n, len(keys))
	}
	// a read missing entries and generations: nothing failed.
	for _, c := range []*Tiered{a, b} {
		if st := c.Stats(); st.L2Errors+st.L2Timeouts+st.L2Skipped != 0 || c.L2State() != "closed" {
			t.Fatalf("L2 %s, stats %+v", c.L2State(), st)
		}
	}
	for _, conn := range []*redisconn.Conn{connA, connB} {
		for kind, n := range conn.Errors() {
			if n != 0 {
				t.Fatalf("redis errors: %d %s", n, kind)
			}
		}
	}
}

// An invalidation applied by one replica fences the other's L2 reads; the
// same event applied by the other bumps nothing more, so what it filled
// after the event stays valid.
func testClusterInvalidation(t *testing.T, cl *testredis.Cluster) {
	cfg := clusterConfig("inv:")
	clk := newClock()
	a := newTiered(t, cfg, clusterConn(t, cl).Client, clk)
	b := newTiered(t, cfg, clusterConn(t, cl).Client, clk)
	fa, fb := newFiller(clk, "a%d"), newFiller(clk, "b%d")
	tags := []string{"product:1", "{}path:/p/1"}
	expect(t, fetch(t, a, "/p/1", tags, clk.Now(), fa), OutcomeMiss, "a1")
	expect(t, fetch(t, a, "/k/1", nil, clk.Now(), fa), OutcomeMiss, "a2")
	testwait.For(t, 10*time.Second, "the L2 writes", func() bool { return a.Stats().L2Writes == 2 })
	expect(t, fetch(t, b, "/p/1", tags, clk.Now(), fb), OutcomeHitL2, "a1")
	expect(t, fetch(t, b, "/k/1", nil, clk.Now(), fb), OutcomeHitL2, "a2")
	settle(t, b)

	ctx := context.Background()
	for _, tag := range tags {
		inv := Invalidation{ID: "evt-" + tag, Tags: []string{tag}}
		if n, err := a.Invalidate(ctx, inv); n != 1 || err != nil {
			t.Fatalf("Invalidate(%s) = %d, %v", tag, n, err)
		}
		// b still holds a1 in L1 until it applies the event; its L2 read
		// is fenced already.
		res, err := b.Fetch(ctx, Request{Key: []byte("/p/1"), Tags: tags, Now: clk.Now(), L1Missed: true, MakeFill: fillWith(fb.fill)})
		if err != nil || res.Outcome != OutcomeMiss {
			t.Fatalf("after %s: %s %v, want a miss", tag, res.Outcome, err)
		}
		testwait.For(t, 10*time.Second, "b's L2 write", func() bool { return b.Stats().L2Writes == uint64(fb.calls.Load()) })
		settle(t, b)
		before := b.Stats().L2Deduped
		if n, err := b.Invalidate(ctx, inv); n != 1 || err != nil {
			t.Fatalf("replayed Invalidate(%s) = %d, %v", tag, n, err)
		}
		if b.Stats().L2Deduped != before+1 {
			t.Fatalf("%s: the second replica bumped again", tag)
		}
		want := string(res.Entry.Value)
		expect(t, fetch(t, a, "/p/1", tags, clk.Now(), fa), OutcomeHitL2, want)
		expect(t, fetch(t, b, "/p/1", tags, clk.Now(), fb), OutcomeHitL2, want)
		settle(t, a)
		settle(t, b)
	}

	if n, err := a.Invalidate(ctx, Invalidation{Keys: [][]byte{[]byte("/k/1")}}); n != 1 || err != nil {
		t.Fatalf("Invalidate(keys) = %d, %v", n, err)
	}
	res, err := b.Fetch(ctx, Request{Key: []byte("/k/1"), Now: clk.Now(), L1Missed: true, MakeFill: fillWith(fb.fill)})
	if err != nil || res.Outcome != OutcomeMiss {
		t.Fatalf("after Invalidate(keys): %s %v, want a miss", res.Outcome, err)
	}
}

// One event applied by two replicas bumps each generation once, whatever
// its name: a plain key, a tag, a path tag with its empty hash tag.
func testClusterEventBumpsOnce(t *testing.T, cl *testredis.Cluster) {
	cfg := clusterConfig("once:")
	clk := newClock()
	conn := clusterConn(t, cl)
	replicas := []*Tiered{newTiered(t, cfg, conn.Client, clk), newTiered(t, cfg, clusterConn(t, cl).Client, clk)}
	ctx := context.Background()
	keys, tags := [][]byte{[]byte("/m/1")}, []string{"product:9", "{}path:/x"}
	genKeys := []string{replicas[0].l2.keyGenKey(keys[0]), "once:tg:product:9", "once:tg:{}path:/x"}
	gens := func() []string {
		out := make([]string, len(genKeys))
		for i, k := range genKeys {
			out[i] = conn.Client.Get(ctx, k).Val()
		}
		return out
	}
	// Generations created anew start from the server clock: create them
	// first, so the test can count bumps as differences.
	if _, err := replicas[0].Invalidate(ctx, Invalidation{ID: "evt-0", Keys: keys, Tags: tags}); err != nil {
		t.Fatal(err)
	}
	before := gens()
	inv := Invalidation{ID: "evt-1", Keys: keys, Tags: tags}
	var wg sync.WaitGroup
	for _, r := range replicas {
		wg.Go(func() {
			if n, err := r.Invalidate(ctx, inv); n != 3 || err != nil {
				t.Errorf("Invalidate = %d, %v", n, err)
			}
		})
	}
	wg.Wait()
	after := gens()
	for i := range genKeys {
		if d := genDelta(t, before[i], after[i]); d != 1 {
			t.Fatalf("%s bumped %d times by one event on two replicas", genKeys[i], d)
		}
	}
	if d := replicas[0].Stats().L2Deduped + replicas[1].Stats().L2Deduped; d != 3 {
		t.Fatalf("L2Deduped = %d, want 3", d)
	}
	// The markers live on their generations' masters.
	for _, g := range genKeys {
		m := replicas[0].l2.markerKey(g, inv.ID)
		if conn.Client.Exists(ctx, m).Val() != 1 {
			t.Fatalf("no marker %q", m)
		}
		if cl.MasterFor(m) != cl.MasterFor(g) {
			t.Fatalf("marker %q is not on %q's master", m, g)
		}
	}
}

// A single-node client pointed at a cluster node must open the L2 breaker:
// seen before redisconn.Failure, every lookup was answered CROSSSLOT (its
// MGET spans slots) or, read as a pipeline of GETs, "MOVED <slot>
// <addr>" behind a redis.Nil that Exec reported instead, and the breaker
// stayed closed.
func testClusterSingleNodeClient(t *testing.T, cl *testredis.Cluster) {
	node := cl.Masters()[0]
	conn := newConn(t, redisconn.Config{URL: "redis://" + node.Addr})
	t.Run("mget", func(t *testing.T) {
		cfg := clusterConfig("single:")
		cfg.Breaker.Cooldown = time.Minute // stays open while the test looks
		clk := newClock()
		c := newTiered(t, cfg, conn.Client, clk)
		f := newFiller(clk, "v%d")
		for i := 0; c.L2State() != "open"; i++ {
			if i == 20 {
				t.Fatalf("breaker still %s after %d fetches: %+v", c.L2State(), i, c.Stats())
			}
			expect(t, fetch(t, c, fmt.Sprintf("/s/%d", i), []string{"t"}, clk.Now(), f), OutcomeMiss, fmt.Sprintf("v%d", i+1))
		}
		if st := c.Stats(); st.L2Errors == 0 {
			t.Fatalf("no L2 error counted: %+v", st)
		}
		if n := conn.Errors()["crossslot"]; n == 0 {
			t.Fatalf("errors seen: %v, want crossslot", conn.Errors())
		}
	})
	t.Run("pipeline", func(t *testing.T) {
		cfg := clusterConfig("single:")
		cfg.Breaker.Cooldown = time.Minute
		c := newTiered(t, cfg, conn.Client, newClock())
		c.l2.mget = false
		// The entry and key generation are on node (an MGET of missing
		// keys), so is the first tag's generation (redis.Nil, the first
		// error), the second tag's is elsewhere (MOVED, after it).
		find := func(onNode bool, name func(int) string) string {
			for i := 0; ; i++ {
				if (cl.MasterFor(name(i)) == node) == onNode {
					return strings.TrimPrefix(name(i), c.l2.tagGenKey(""))
				}
			}
		}
		key := find(true, func(i int) string { return c.l2.entryKey(fmt.Appendf(nil, "/p/%d", i)) })
		key = key[strings.IndexByte(key, '}')+1:]
		tag := func(i int) string { return c.l2.tagGenKey(fmt.Sprintf("t%d", i)) }
		tags := []string{find(true, tag), find(false, tag)}
		for i := 0; c.L2State() != "open"; i++ {
			if i == 20 {
				t.Fatalf("breaker still %s after %d lookups: %+v", c.L2State(), i, c.Stats())
			}
			err := c.l2.lookup(&l2Lookup{key: []byte(key), tags: tags}, time.Now())
			if err == nil || (err != errL2Skipped && !strings.HasPrefix(err.Error(), "MOVED ")) {
				t.Fatalf("lookup: %v, want MOVED", err)
			}
		}
		if st := c.Stats(); st.L2Errors == 0 {
			t.Fatalf("no L2 error counted: %+v", st)
		}
	})
}
