package features

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tiercel/tiercel/internal/breaker"
	"github.com/tiercel/tiercel/internal/redisconn"
	"github.com/tiercel/tiercel/internal/testredis"
)

// TestCluster runs the feature store on a real Redis Cluster of three
// masters. The cluster takes seconds to start, so the package starts it
// once, here, and the subtests share it, each under a key prefix of its
// own. Every subtest spreads its entities over every master: a read or a
// write that works on one slot only would pass on a single node.
func TestCluster(t *testing.T) {
	cl := testredis.StartCluster(t, 3, 0)
	t.Run("PushThenRead", func(t *testing.T) { testClusterPushRead(t, cl) })
	t.Run("RowErrorReplies", func(t *testing.T) { testClusterRowErrors(t, cl) })
	t.Run("NoScriptRecovery", func(t *testing.T) { testClusterNoScript(t, cl) })
	t.Run("LastGoodAcrossStores", func(t *testing.T) { testClusterLastGood(t, cl) })
	t.Run("SingleNodeClientOnClusterNode", func(t *testing.T) { testSingleClientOnCluster(t, cl) })
}

// clusterConn is a client built the way the gateway builds it.
func clusterConn(t *testing.T, cfg redisconn.Config) redis.UniversalClient {
	t.Helper()
	cfg.SetDefaults()
	c, err := redisconn.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.Client
}

// clusterStore is one replica of the gateway: a Store with a client of
// its own.
func clusterStore(t *testing.T, rdb redis.UniversalClient, cfg Config) *Store {
	t.Helper()
	cfg.RedisTimeout = time.Second // generous: -race on a loaded machine
	s, err := New(cfg, Options{Redis: rdb})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func newClusterStore(t *testing.T, cl *testredis.Cluster, cfg Config) *Store {
	t.Helper()
	return clusterStore(t, clusterConn(t, redisconn.Config{Mode: redisconn.ModeCluster, Addrs: cl.Addrs()}), cfg)
}

// spread returns entity ids whose keys (keyOf) land on every master, two
// on each, and checks that they do.
func spread(t *testing.T, cl *testredis.Cluster, keyOf func(id string) string) []string {
	t.Helper()
	perMaster := map[string]int{}
	masters := len(cl.Masters())
	var ids []string
	for i := 0; len(perMaster) < masters || len(ids) < 2*masters; i++ {
		if i == 200 {
			t.Fatalf("200 ids reach %d of %d masters", len(perMaster), masters)
		}
		id := fmt.Sprint("e", i)
		addr := cl.MasterFor(keyOf(id)).Addr
		if perMaster[addr] >= 2 {
			continue
		}
		perMaster[addr]++
		ids = append(ids, id)
	}
	return ids
}

func rowKey(prefix, view string) func(string) string {
	return func(id string) string { return prefix + "fv:" + view + ":" + id }
}

func pushClicks(t *testing.T, s *Store, ids []string, clicks int) {
	t.Helper()
	rows := make([]PushRow, len(ids))
	for i, id := range ids {
		rows[i] = PushRow{Entity: map[string]string{"user_id": id}, Values: map[string][]byte{
			"clicks_7d": raw(clicks + i), "country": raw("FR"),
		}}
	}
	if err := s.Push(context.Background(), "user_stats", rows); err != nil {
		t.Fatalf("Push: %v", err)
	}
}

// readClicks reads clicks_7d and country of ids through s, and checks
// they are what pushClicks(clicks) wrote, in one pipeline without errors.
func readClicks(t *testing.T, s *Store, ids []string, clicks int) {
	t.Helper()
	rows := make([][]string, len(ids))
	for i, id := range ids {
		rows[i] = []string{id}
	}
	st0 := s.Stats()
	res := mustGet(t, s, mustQuery(t, s, []string{"user_stats:clicks_7d", "user_stats:country"}, []string{"user_id"}, rows))
	for i, id := range ids {
		if c := res.Cell(i, 0); c.Status != StatusPresent || string(c.Value) != fmt.Sprint(clicks+i) {
			t.Errorf("%s clicks_7d = %s %v, want %d PRESENT", id, c.Value, c.Status, clicks+i)
		}
		if c := res.Cell(i, 1); c.Status != StatusPresent || string(c.Value) != `"FR"` {
			t.Errorf("%s country = %s %v, want \"FR\" PRESENT", id, c.Value, c.Status)
		}
	}
	st := s.Stats()
	if res.Incomplete || st.RedisPipelines-st0.RedisPipelines != 1 || st.RedisFailures != 0 || st.RowErrors != 0 || st.BadStoredRows != 0 {
		t.Errorf("incomplete %v; stats %+v", res.Incomplete, st)
	}
}

// A push through one Store is read by another (another replica of the
// gateway, its own client and L1): rows written by the merge script and
// read by a pipeline of GETs (a cluster's MGET cannot span slots).
func testClusterPushRead(t *testing.T, cl *testredis.Cluster) {
	cfg := testRegistry()
	cfg.KeyPrefix = "rw:"
	ids := spread(t, cl, rowKey(cfg.KeyPrefix, "user_stats"))
	a, b := newClusterStore(t, cl, cfg), newClusterStore(t, cl, cfg)
	pushClicks(t, a, ids, 100)
	readClicks(t, b, ids, 100)
	// A partial write merges into the rows on every master: country stays.
	rows := make([]PushRow, len(ids))
	for i, id := range ids {
		rows[i] = PushRow{Entity: map[string]string{"user_id": id}, Values: map[string][]byte{"clicks_7d": raw(200 + i)}}
	}
	if err := a.Push(context.Background(), "user_stats", rows); err != nil {
		t.Fatal(err)
	}
	readClicks(t, newClusterStore(t, cl, cfg), ids, 200)
}

// A master that forgot the merge script (restarted, flushed, a replica
// promoted) answers NOSCRIPT; the push loads it on every shard and tries
// again. go-redis's ClusterClient.ScriptLoad reaches every shard (v9.23,
// osscluster_commands.go): Script.Load alone would reach one.
func testClusterNoScript(t *testing.T, cl *testredis.Cluster) {
	cfg := testRegistry()
	cfg.KeyPrefix = "ns:"
	ids := spread(t, cl, rowKey(cfg.KeyPrefix, "user_stats"))
	a := newClusterStore(t, cl, cfg)
	pushClicks(t, a, ids, 1)
	scripts := func(want bool, what string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		for _, m := range cl.Masters() {
			node := redis.NewClient(&redis.Options{Addr: m.Addr})
			if what == "flush" {
				if err := node.ScriptFlush(ctx).Err(); err != nil {
					t.Fatalf("SCRIPT FLUSH on %s: %v", m.Addr, err)
				}
			}
			got, err := node.ScriptExists(ctx, mergeScript.Hash()).Result()
			node.Close()
			if err != nil || got[0] != want {
				t.Fatalf("%s: merge script on %s: %v %v, want %v", what, m.Addr, got, err, want)
			}
		}
	}
	scripts(true, "after the first push")
	scripts(false, "flush")
	pushClicks(t, a, ids, 50)
	scripts(true, "after the push that met NOSCRIPT")
	readClicks(t, newClusterStore(t, cl, cfg), ids, 50)
	if d := dependency(t, a, "features:redis"); d.Breaker != "closed" {
		t.Errorf("breaker %s after a NOSCRIPT cured by reloading", d.Breaker)
	}
}

// Last good predictions written by one Store (pipelined SETs, through its
// write loop) are read by another (a pipeline of GETs) on every master.
func testClusterLastGood(t *testing.T, cl *testredis.Cluster) {
	cfg := testRegistry()
	cfg.KeyPrefix = "lg:"
	ents := spread(t, cl, func(id string) string { return cfg.KeyPrefix + "lg:" + lgKey("m", id) })
	a, b := newClusterStore(t, cl, cfg), newClusterStore(t, cl, cfg)
	for i, e := range ents {
		a.lg.set("m", e, float64(i)+0.5)
	}
	a.Wait()
	if n := a.Stats().LastGoodDrops; n != 0 {
		t.Fatalf("%d last good predictions dropped", n)
	}
	vals, ok := b.lg.fetch(context.Background(), time.Second, "m", append(ents, "none"))
	for i, e := range ents {
		if !ok[i] || vals[i] != float64(i)+0.5 {
			t.Errorf("last good of %s = %v %v, want %v", e, vals[i], ok[i], float64(i)+0.5)
		}
	}
	if ok[len(ents)] {
		t.Errorf("a last good prediction for an entity never predicted: %v", vals[len(ents)])
	}
	if d := dependency(t, b, "features:redis"); d.Breaker != "closed" {
		t.Errorf("breaker %s", d.Breaker)
	}
}

// Issue 15, with redis.mode: single pointed at one master of a cluster:
// "feature push answers 503 (MOVED 13945 ...), reads come back DEFAULT;
// most last-good prediction writes are refused (MOVED)" — and the breaker
// stayed closed, since any reply proved Redis was there. MOVED and
// CROSSSLOT say this node cannot serve the key: failures, so the breaker
// opens and calls go straight to their fallback.
func testSingleClientOnCluster(t *testing.T, cl *testredis.Cluster) {
	node := cl.Masters()[0]
	single := func() redis.UniversalClient {
		return clusterConn(t, redisconn.Config{URL: "redis://" + node.Addr})
	}
	cfg := testRegistry()
	cfg.KeyPrefix = "sn:"
	cfg.Breaker = breaker.Config{Failures: 2, Cooldown: time.Hour}
	ids := spread(t, cl, rowKey(cfg.KeyPrefix, "user_stats"))
	var elsewhere []string // ids whose rows live on another master
	for _, id := range ids {
		if cl.MasterFor(rowKey(cfg.KeyPrefix, "user_stats")(id)) != node {
			elsewhere = append(elsewhere, id)
		}
	}

	t.Run("reads", func(t *testing.T) {
		s := clusterStore(t, single(), cfg)
		rows := make([][]string, len(ids))
		for i, id := range ids {
			rows[i] = []string{id}
		}
		q := mustQuery(t, s, allRefs[:2], []string{"user_id"}, rows)
		for i := range cfg.Breaker.Failures {
			res := mustGet(t, s, q) // one MGET over every master's slots: CROSSSLOT
			if c := res.Cell(0, 0); !res.Incomplete || c.Status != StatusDefault {
				t.Fatalf("read %d: incomplete %v, %v", i, res.Incomplete, c.Status)
			}
		}
		if st := s.Stats(); st.RedisFailures != st.RedisPipelines || st.RowErrors != uint64(len(ids))*uint64(cfg.Breaker.Failures) {
			t.Errorf("stats %+v", st)
		}
		if d := dependency(t, s, "features:redis"); d.Breaker != "open" {
			t.Fatalf("after %d CROSSSLOT reads the breaker is %s", cfg.Breaker.Failures, d.Breaker)
		}
		p0 := s.Stats().RedisPipelines
		if res := mustGet(t, s, q); res.Cell(0, 0).Status != StatusDefault || s.Stats().RedisPipelines != p0 {
			t.Errorf("breaker open: %v, %d pipelines sent", res.Cell(0, 0).Status, s.Stats().RedisPipelines-p0)
		}
		if n := fallbacks(s, "view:user_stats", "absent", ReasonBreakerOpen); n != uint64(len(ids)) {
			t.Errorf("breaker_open fallbacks = %d, want %d", n, len(ids))
		}
	})

	t.Run("pushes", func(t *testing.T) {
		s := clusterStore(t, single(), cfg)
		rows := []PushRow{{Entity: map[string]string{"user_id": elsewhere[0]}, Values: map[string][]byte{"clicks_7d": raw(1)}}}
		for i := range cfg.Breaker.Failures {
			err := s.Push(context.Background(), "user_stats", rows)
			if KindOf(err) != Unavailable || !strings.Contains(errors.Unwrap(err).Error(), "MOVED") {
				t.Fatalf("push %d of a row on another master: %v, want Unavailable (MOVED)", i, err)
			}
		}
		if d := dependency(t, s, "features:redis"); d.Breaker != "open" {
			t.Fatalf("after %d MOVED pushes the breaker is %s", cfg.Breaker.Failures, d.Breaker)
		}
		if err := s.Push(context.Background(), "user_stats", rows); !errors.Is(err, ErrBreakerOpen) {
			t.Errorf("push with the breaker open: %v", err)
		}
	})

	t.Run("last good writes", func(t *testing.T) {
		s := clusterStore(t, single(), cfg)
		ents := spread(t, cl, func(id string) string { return cfg.KeyPrefix + "lg:" + lgKey("m", id) })
		var moved []string
		for _, e := range ents {
			if cl.MasterFor(cfg.KeyPrefix+"lg:"+lgKey("m", e)) != node {
				moved = append(moved, e)
			}
		}
		// At least one write pipeline per round: Wait settles every queued write.
		for range cfg.Breaker.Failures {
			for _, e := range moved {
				s.lg.set("m", e, 1)
			}
			s.Wait()
		}
		if n, want := s.Stats().LastGoodDrops, uint64(len(moved))*uint64(cfg.Breaker.Failures); n != want {
			t.Errorf("LastGoodDrops = %d, want %d (every write refused with MOVED)", n, want)
		}
		if d := dependency(t, s, "features:redis"); d.Breaker != "open" {
			t.Errorf("after %d refused write pipelines the breaker is %s", cfg.Breaker.Failures, d.Breaker)
		}
	})
}
