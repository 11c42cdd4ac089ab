package gateway

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tiercel/tiercel/gateway/ratelimit"
	"github.com/tiercel/tiercel/internal/testkafka"
	"github.com/tiercel/tiercel/internal/testwait"
	"github.com/tiercel/tiercel/invalidation"
)

// Issue 15 on a real Redis Cluster, three masters with a replica each:
// what the shared tier promises two replicas, checked for keys that land
// on every master. The tests that run on both a single node and the
// cluster (onEachRedis) cover the rest.

// clusterCacheReplica is a cached-routes replica on rs consuming brokers
// (none when empty), in front of the origin at originAddr.
func clusterCacheReplica(t *testing.T, rs *sharedRedis, originAddr, brokers string) *harness {
	t.Helper()
	return startReplica(t, originAddr, rs.use(func(c *Config) {
		cachedRoutes("")(c)
		if brokers != "" {
			c.Kafka = kafkaConfig(brokers)
		}
		// A fill's L2 read and write reach several masters, each dialled
		// on first use; the default 5ms can miss under -race on two cores,
		// and B would then fill on its own instead of reading L2.
		c.Cache.L2Timeout = time.Second
	}))
}

var productInKey = regexp.MustCompile(`products/(\d+)`)

// entriesByMaster returns the product ids whose L2 entries each master holds.
func entriesByMaster(t *testing.T, rs *sharedRedis) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for addr, keys := range rs.keysByMaster(t, "tiercel:e:*") {
		for _, k := range keys {
			if m := productInKey.FindStringSubmatch(k); m != nil {
				out[addr] = append(out[addr], m[1])
			}
		}
		slices.Sort(out[addr])
	}
	return out
}

// onEveryMaster fails t unless each master of rs holds something.
func onEveryMaster(t *testing.T, rs *sharedRedis, what string, byMaster map[string][]string) {
	t.Helper()
	for _, m := range rs.cluster.Masters() {
		if len(byMaster[m.Addr]) == 0 {
			t.Fatalf("no %s on master %s: %v", what, m.Addr, byMaster)
		}
	}
}

// TestClusterCacheAcrossMasters: entries filled on replica A land on every
// master and replica B reads each as an L2 hit; a tag or key invalidation,
// through A's admin API or through Kafka, fences the entry on whichever
// master holds it, for the other replicas too.
func TestClusterCacheAcrossMasters(t *testing.T) {
	rs := clusterRedis(t)
	kf := testkafka.Start(t, testkafka.Topic(testTopic, 1))
	a := newHarness(t, rs.use(func(c *Config) {
		cachedRoutes("")(c)
		c.Kafka = kafkaConfig(kf.Addr())
		c.Cache.L2Timeout = time.Second
	}))
	o := newVersionedOrigin(a.origin) // one origin behind every replica
	originAddr := a.origin.ln.Addr().String()
	b := clusterCacheReplica(t, rs, originAddr, kf.Addr())
	applied := &appliedEvents{}
	b.srv.applier.applied = applied.add
	waitKafkaReady(t, a, b)

	const n = 36
	testwait.For(t, 15*time.Second, "A's entries in L2", func() bool {
		stored := 0
		have := map[string]bool{}
		for _, ids := range entriesByMaster(t, rs) {
			for _, id := range ids {
				have[id] = true
			}
		}
		for i := range n {
			if id := strconv.Itoa(100 + i); have[id] {
				stored++
			} else {
				a.get("/c/products/"+id, "")
			}
		}
		return stored == n
	})
	byMaster := entriesByMaster(t, rs)
	onEveryMaster(t, rs, "entry", byMaster)
	fills := o.hits.Load()
	for i := range n {
		r := b.get("/c/products/"+strconv.Itoa(100+i), "")
		if r.header.Get("X-Cache") != "HIT-L2" || !strings.Contains(r.header.Get("Cache-Status"), "detail=l2") || r.version(t) != 0 {
			t.Fatalf("B read %d: X-Cache %q Cache-Status %q %s", 100+i, r.header.Get("X-Cache"), r.header.Get("Cache-Status"), r.body)
		}
	}
	if got := o.hits.Load(); got != fills {
		t.Fatalf("B went to the origin %d times", got-fills)
	}
	b.srv.gen.Load().cache.Wait()

	// Each way of invalidating, on an entry of each master.
	modes := []string{"admin-tag", "admin-key", "kafka-tag", "kafka-key"}
	prod, err := invalidation.NewProducer(invalidation.ProducerConfig{Endpoint: invalidation.Endpoint{Brokers: []string{kf.Addr()}, Topic: testTopic}})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	invalidated := map[string]string{} // id -> mode
	for addr, ids := range byMaster {
		if len(ids) < len(modes) {
			t.Fatalf("master %s holds %d entries, fewer than the %d modes: raise n", addr, len(ids), len(modes))
		}
		for i, mode := range modes {
			id, path := ids[i], "/c/products/"+ids[i]
			invalidated[id] = mode
			o.bump(path)
			ev := &invalidation.Event{Version: invalidation.Version, ID: "evt-" + mode + "-" + id, Type: invalidation.TypeInvalidate}
			switch mode {
			case "admin-tag":
				a.invalidate(t, `{"tags":["product:`+id+`"]}`, `"tags":1`)
			case "admin-key":
				a.invalidate(t, `{"keys":["`+path+`"]}`, `"keys":1`)
			case "kafka-tag":
				ev.Tags = []string{"product:" + id}
			case "kafka-key":
				ev.Keys = []string{path}
			}
			if ev.Tags != nil || ev.Keys != nil {
				if err := prod.Publish(ctx, ev); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	applied.until(t, kf.Addr()) // B applied every Kafka event
	// C starts after the invalidations with an empty L1: what it reads
	// from L2 is what any replica would.
	c := clusterCacheReplica(t, rs, originAddr, "")
	for id, mode := range invalidated {
		path := "/c/products/" + id
		for name, h := range map[string]*harness{"A": a, "C": c} {
			if r := h.get(path, ""); r.version(t) != 1 {
				t.Fatalf("%s (%s) on %s after the invalidation: %s %s", path, mode, name, r.header.Get("X-Cache"), r.body)
			}
		}
		if strings.HasPrefix(mode, "kafka") {
			if r := b.get(path, ""); r.version(t) != 1 {
				t.Fatalf("%s (%s) on B after applying the event: %s %s", path, mode, r.header.Get("X-Cache"), r.body)
			}
		}
	}
	// Entries nobody invalidated are still shared.
	for i := range n {
		id := strconv.Itoa(100 + i)
		if _, ok := invalidated[id]; ok {
			continue
		}
		if r := c.get("/c/products/"+id, ""); r.header.Get("X-Cache") != "HIT-L2" {
			t.Fatalf("C read %s: %q, want HIT-L2", id, r.header.Get("X-Cache"))
		}
	}
}

// TestClusterEventBumpsGenerationOnce: every replica applies every event,
// so the same event reaches the cluster once per replica; the event marker
// lets only the first bump the generation, on whichever master holds it.
func TestClusterEventBumpsGenerationOnce(t *testing.T) {
	rs := clusterRedis(t)
	kf := testkafka.Start(t, testkafka.Topic(testTopic, 1))
	origin := startOrigin(t).ln.Addr().String()
	var recs []*appliedEvents
	var replicas []*harness
	for range 2 {
		h := clusterCacheReplica(t, rs, origin, kf.Addr())
		rec := &appliedEvents{}
		h.srv.applier.applied = rec.add
		recs, replicas = append(recs, rec), append(replicas, h)
	}
	waitKafkaReady(t, replicas...)
	prod, err := invalidation.NewProducer(invalidation.ProducerConfig{Endpoint: invalidation.Endpoint{Brokers: []string{kf.Addr()}, Topic: testTopic}})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	publish := func(ev *invalidation.Event) {
		t.Helper()
		ev.Version, ev.Type = invalidation.Version, invalidation.TypeInvalidate
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := prod.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
		for i, rec := range recs {
			testwait.For(t, 10*time.Second, fmt.Sprintf("replica %d to apply %s", i, ev.ID), func() bool { return rec.has(ev.ID) })
		}
	}
	generation := func(pattern string) (string, int64) {
		t.Helper()
		keys := rs.keys(t, pattern)
		if len(keys) != 1 {
			t.Fatalf("generation keys %s: %q, want one", pattern, keys)
		}
		v, err := rs.client.Get(t.Context(), keys[0]).Int64()
		if err != nil {
			t.Fatalf("cannot read %s: %v", keys[0], err)
		}
		return keys[0], v
	}
	f := func(name, pattern string, ev func(id string) *invalidation.Event) {
		t.Run(name, func(t *testing.T) {
			// The first event creates the generation (from the clock);
			// the second must add exactly one.
			publish(ev("evt-" + name + "-1"))
			key, before := generation(pattern)
			publish(ev("evt-" + name + "-2"))
			if _, after := generation(pattern); after != before+1 {
				t.Fatalf("%s (master %s) went from %d to %d after one event applied by %d replicas, want +1",
					key, rs.cluster.MasterFor(key).Addr, before, after, len(replicas))
			}
		})
	}
	f("tag", "tiercel:tg:product:7001", func(id string) *invalidation.Event {
		return &invalidation.Event{ID: id, Tags: []string{"product:7001"}}
	})
	f("key", "tiercel:kg:*products/7002*", func(id string) *invalidation.Event {
		return &invalidation.Event{ID: id, Keys: []string{"/c/products/7002"}}
	})
	// The path tag of RFC 9111 §4.4 (httpcache.PathTag), as a write's event
	// carries it: its name holds an empty hash tag, "{}".
	f("path-tag", "tiercel:tg:{}path:/c/products/7003", func(id string) *invalidation.Event {
		return &invalidation.Event{ID: id, Tags: []string{"{}path:/c/products/7003"}}
	})
}

// has reports whether the event id was applied.
func (a *appliedEvents) has(id string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.ContainsFunc(a.evs, func(ev *invalidation.Event) bool { return ev.ID == id })
}

// TestClusterRateLimitAcrossReplicas: a cluster policy's budget is one
// GCRA key per subject, shared by every replica, for subjects whose keys
// live on different masters.
func TestClusterRateLimitAcrossReplicas(t *testing.T) {
	rs := clusterRedis(t)
	cfg := rs.use(func(c *Config) {
		// One token per 1000s: nothing refills during the test.
		c.RateLimit.Policies["shared"] = ratelimit.Policy{Rate: 0.001, Burst: 3, Key: "subject", Cluster: true}
		c.RateLimit.RedisTimeout = time.Second // about sharing, not timeouts
		c.Routes = append(c.Routes, RouteConfig{Name: "rl", Path: "/rl/{id}", Upstream: "origin", RateLimit: "shared"})
	})
	a := newHarness(t, cfg)
	b := startReplica(t, a.origin.ln.Addr().String(), cfg)
	// One subject per master: redis_rate keys are "rate:" + the limiter's
	// "tiercel:rl:<route>:" + the gateway's "s:<subject>".
	subjects := map[string]string{} // master -> subject
	for i := 0; len(subjects) < len(rs.cluster.Masters()); i++ {
		if i == 200 {
			t.Fatalf("no subject for every master: %v", subjects)
		}
		sub := "user-" + strconv.Itoa(i)
		if m := rs.cluster.MasterFor(rlKey(sub)).Addr; subjects[m] == "" {
			subjects[m] = sub
		}
	}
	for master, sub := range subjects {
		tok := token(t, jwt.MapClaims{"sub": sub})
		allowed := 0
		for i := range 8 {
			h := []*harness{a, b}[i%2]
			r := h.get("/rl/1", tok)
			switch {
			case r.status == 200:
				allowed++
				if got := r.header.Get("RateLimit-Remaining"); got != strconv.Itoa(3-allowed) {
					t.Fatalf("%s request %d: RateLimit-Remaining %q, want %d", sub, i, got, 3-allowed)
				}
			case r.status != 429 || r.err.Code != "rate_limited" || r.header.Get("Retry-After") == "":
				t.Fatalf("%s request %d: %d %q Retry-After %q", sub, i, r.status, r.err.Code, r.header.Get("Retry-After"))
			}
		}
		if allowed != 3 {
			t.Fatalf("%s: %d allowed across two replicas, want one shared burst of 3", sub, allowed)
		}
		if keys := rs.keysByMaster(t, rlKey(sub))[master]; len(keys) != 1 {
			t.Fatalf("%s's bucket is not on master %s: %v", sub, master, rs.keysByMaster(t, "rate:*"))
		}
	}
	for name, h := range map[string]*harness{"A": a, "B": b} {
		if s := h.srv.gen.Load().limiter.Stats(); s.Fallbacks != 0 {
			t.Fatalf("%s answered %d cluster decisions locally: %+v", name, s.Fallbacks, s)
		}
	}
}

// rlKey is the Redis key of subject's bucket on route rl.
func rlKey(subject string) string { return "rate:tiercel:rl:rl:s:" + subject }

// TestClusterFeaturesAcrossReplicas: rows pushed through replica A land on
// every master and replica B reads them in one packed read; predictions
// made on A are B's last good ones when the model is down, though B never
// asked the model.
func TestClusterFeaturesAcrossReplicas(t *testing.T) {
	rs := clusterRedis(t)
	oip := startOIP(t)
	cfg := rs.use(func(c *Config) {
		featureRoutes("", oip.URL)(c)
		c.Features.MaxEntities = 20
		for i := range c.Features.Models {
			if c.Features.Models[i].Name == "remote" {
				// Inputs both replicas read alike: the shared view's.
				c.Features.Models[i].Inputs = []string{"rv:clicks"}
			}
		}
	})
	a := newHarness(t, cfg)
	b := startReplica(t, a.origin.ln.Addr().String(), cfg)
	tok := token(t, featureScopes)
	const n = 12
	var rows, entities []string
	for i := range n {
		rows = append(rows, fmt.Sprintf(`{"entity":{"user_id":"u%d"},"values":{"clicks":%d,"country":"C%d"}}`, i, i+1, i))
		entities = append(entities, fmt.Sprintf(`{"user_id":"u%d"}`, i))
	}
	a.mustPost("/v1/push", tok, `{"view":"rv","rows":[`+strings.Join(rows, ",")+`]}`)
	onEveryMaster(t, rs, "feature row", rs.keysByMaster(t, "tiercel:fv:rv:*"))
	got := decode[nativeReply](t, b.mustPost("/v1/features", tok,
		`{"features":["rv:clicks","rv:country"],"entities":[`+strings.Join(entities, ",")+`]}`).body)
	if got.Incomplete || len(got.Results) != n {
		t.Fatalf("B's read: incomplete %v, %d rows", got.Incomplete, len(got.Results))
	}
	for i, r := range got.Results {
		if r.Values[0] != float64(i+1) || r.Values[1] != fmt.Sprintf("C%d", i) || strings.Join(r.Statuses, ",") != "PRESENT,PRESENT" {
			t.Fatalf("B's row u%d: %+v", i, r)
		}
	}

	// Other entities, which B has not read: a push through A cannot drop
	// rows from B's L1, and B must read the new input vector below.
	push := func(clicks func(i int) int) string {
		rows, entities = nil, nil
		for i := range n {
			rows = append(rows, fmt.Sprintf(`{"entity":{"user_id":"p%d"},"values":{"clicks":%d}}`, i, clicks(i)))
			entities = append(entities, fmt.Sprintf(`{"user_id":"p%d"}`, i))
		}
		a.mustPost("/v1/push", tok, `{"view":"rv","rows":[`+strings.Join(rows, ",")+`]}`)
		return `{"entities":[` + strings.Join(entities, ",") + `]}`
	}
	predict := push(func(i int) int { return i + 1 })
	p := decode[predictReply](t, a.mustPost("/v1/models/remote/predict", tok, predict).body)
	if sources(p) != strings.TrimSuffix(strings.Repeat("model,", n), ",") {
		t.Fatalf("A's predictions: %s", sources(p))
	}
	a.srv.gen.Load().features.Wait() // the last good predictions are written to Redis
	onEveryMaster(t, rs, "last good prediction", rs.keysByMaster(t, "tiercel:lg:*"))
	oip.Close()
	// A new input vector: the shared prediction cache cannot answer.
	predict = push(func(i int) int { return 100 + i })
	p = decode[predictReply](t, b.mustPost("/v1/models/remote/predict", tok, predict).body)
	if sources(p) != strings.TrimSuffix(strings.Repeat("stale,", n), ",") {
		t.Fatalf("B's predictions with the model down: %s, want every row stale (A's last good)", sources(p))
	}
	for i, r := range p.Predictions {
		if *r.Value != float64(10*(i+1)) {
			t.Fatalf("B's stale p%d: %v, want A's %d", i, *r.Value, 10*(i+1))
		}
	}
}

// TestClusterRefusesSingleMode: a single-node client pointed at a cluster
// node would answer MOVED to most keys; Start refuses it and says what to
// write instead.
func TestClusterRefusesSingleMode(t *testing.T) {
	rs := clusterRedis(t)
	cfg := testConfig("127.0.0.1:9")
	cachedRoutes("redis://" + rs.cluster.Masters()[0].Addr)(&cfg)
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	err = srv.Start()
	if err == nil || !strings.Contains(err.Error(), "redis.mode: cluster") {
		t.Fatalf("Start with redis.url on a cluster node: %v, want a refusal naming redis.mode: cluster", err)
	}
}
