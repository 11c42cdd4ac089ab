package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tiercel/tiercel/internal/testkafka"
	"github.com/tiercel/tiercel/internal/testwait"
	"github.com/tiercel/tiercel/invalidation"
)

const testTopic = "tiercel.invalidations"

// kafkaReplica is a gateway consuming the test broker, sharing Redis.
func kafkaReplica(t *testing.T, rs *sharedRedis, brokers string) *harness {
	t.Helper()
	return newHarness(t, rs.use(func(c *Config) {
		cachedRoutes("")(c)
		c.Kafka = kafkaConfig(brokers)
	}))
}

// kafkaConfig consumes the test topic with a short poll wait.
func kafkaConfig(brokers string) invalidation.Config {
	return invalidation.Config{Endpoint: invalidation.Endpoint{Brokers: []string{brokers}, Topic: testTopic}, MaxWait: 50 * time.Millisecond}
}

func waitKafkaReady(t *testing.T, hs ...*harness) {
	t.Helper()
	for _, h := range hs {
		testwait.For(t, 20*time.Second, "the consumer to connect", func() bool {
			return h.srv.consumer.Ready() == nil && h.srv.consumer.Status().Partitions > 0
		})
	}
}

func eventJSON(t *testing.T, ev invalidation.Event) []byte {
	t.Helper()
	if ev.Version == 0 {
		ev.Version = invalidation.Version
	}
	if ev.Type == "" {
		ev.Type = invalidation.TypeInvalidate
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestKafkaInvalidationReachesEveryReplica: events produced by kcat (an
// independent Kafka client) drop the entry on both replicas; a malformed
// message in between is skipped and counted, and later events still apply.
func TestKafkaInvalidationReachesEveryReplica(t *testing.T) {
	onEachRedis(t, testKafkaInvalidationReachesEveryReplica)
}

func testKafkaInvalidationReachesEveryReplica(t *testing.T, rs *sharedRedis) {
	kf := testkafka.Start(t, testkafka.Topic(testTopic, 3))
	a := kafkaReplica(t, rs, kf.Addr())
	b := kafkaReplica(t, rs, kf.Addr())
	oa, ob := newVersionedOrigin(a.origin), newVersionedOrigin(b.origin)
	waitKafkaReady(t, a, b)
	for _, h := range []*harness{a, b} {
		h.get("/c/products/42", "")
		h.get("/c/products/43", "")
		h.srv.current().cache.Wait()
		if r := h.get("/c/products/42", ""); r.header.Get("X-Cache") != "HIT-L1" {
			t.Fatalf("warm-up: %q", r.header.Get("X-Cache"))
		}
	}
	oa.bump("/c/products/42")
	ob.bump("/c/products/42")
	testkafka.Kcat(t, kf.Addr(), testTopic, "product:42", []byte(`{"version":1,"id":"bad",`)) // malformed
	testkafka.Kcat(t, kf.Addr(), testTopic, "product:42", eventJSON(t, invalidation.Event{ID: "evt-tag-42", Tags: []string{"product:42"}}))
	testkafka.Kcat(t, kf.Addr(), testTopic, "/c/products/43", eventJSON(t, invalidation.Event{ID: "evt-key-43", Keys: []string{"/c/products/43"}}))
	for name, h := range map[string]*harness{"A": a, "B": b} {
		testwait.For(t, 10*time.Second, name+" to apply the tag event", func() bool {
			r := h.get("/c/products/42", "")
			return strings.Contains(r.body, `"version":1`)
		})
		testwait.For(t, 10*time.Second, name+" to apply the key event", func() bool {
			return h.srv.consumer.Stats().Applied[invalidation.TypeInvalidate] >= 2
		})
		if r := h.get("/c/products/43", ""); r.header.Get("X-Cache") == "HIT-L1" && r.header.Get("Age") != "0" {
			// 43 was dropped from L1: the next read is not an old L1 hit.
			t.Fatalf("%s: key event not applied: %v", name, r.header)
		}
		if n := h.srv.consumer.Stats().Skipped[invalidation.ReasonBadJSON]; n != 1 {
			t.Fatalf("%s: malformed messages skipped: %d, want 1", name, n)
		}
	}
	m := a.metrics(t)
	for _, want := range []string{`tiercel_invalidation_events_applied_total{type="invalidate"}`, `tiercel_invalidation_events_skipped_total{reason="bad_json"} 1`, "tiercel_invalidation_apply_latency_seconds_bucket", "tiercel_invalidation_connected 1"} {
		if !strings.Contains(m, want) {
			t.Fatalf("/metrics lacks %s", want)
		}
	}
	if rd := a.srv.Readiness(context.Background()); rd.Checks["kafka"].Status != "ok" {
		t.Fatalf("readyz kafka: %+v", rd.Checks["kafka"])
	}
}

// TestNoStaleReadAfterAppliedEvent is the stale-read checker: a writer bumps
// a product's version at the origin and then publishes an event with that
// source_version; readers on two replicas record what they see. Once a
// replica has applied the event for version v, no read on it may return a
// version below v.
func TestNoStaleReadAfterAppliedEvent(t *testing.T) {
	onEachRedis(t, testNoStaleReadAfterAppliedEvent)
}

func testNoStaleReadAfterAppliedEvent(t *testing.T, rs *sharedRedis) {
	kf := testkafka.Start(t, testkafka.Topic(testTopic, 2))
	origin := &sharedOrigin{}
	var replicas []*harness
	applied := make([]*atomic.Int64, 2)
	for i := range 2 {
		h := kafkaReplica(t, rs, kf.Addr())
		h.origin.serve(origin.handle)
		applied[i] = &atomic.Int64{}
		seen := applied[i]
		h.srv.current().applier.applied = func(ev *invalidation.Event) {
			for {
				cur := seen.Load()
				if ev.SourceVersion <= cur || seen.CompareAndSwap(cur, ev.SourceVersion) {
					return
				}
			}
		}
		replicas = append(replicas, h)
	}
	waitKafkaReady(t, replicas...)
	p, err := invalidation.NewProducer(invalidation.ProducerConfig{Endpoint: invalidation.Endpoint{Brokers: []string{kf.Addr()}, Topic: testTopic}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	const events = 40
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var reads, violations, failed atomic.Int64
	var firstViolation atomic.Value
	for i, h := range replicas {
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				client := &http.Client{Timeout: 5 * time.Second}
				for ctx.Err() == nil {
					floor := applied[i].Load() // applied before the read began
					resp, err := client.Get(h.base + "/c/products/1")
					if err != nil {
						continue
					}
					var body struct{ Version int64 }
					_ = json.NewDecoder(resp.Body).Decode(&body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						// A 504 under load carries no version: it is not a read.
						failed.Add(1)
						continue
					}
					reads.Add(1)
					if body.Version < floor {
						violations.Add(1)
						firstViolation.CompareAndSwap(nil, fmt.Sprintf("replica %d read version %d after applying %d (%s)", i, body.Version, floor, resp.Header.Get("X-Cache")))
					}
				}
			}()
		}
	}
	for v := int64(1); v <= events; v++ {
		origin.version.Store(v)
		ev := &invalidation.Event{Version: invalidation.Version, ID: "evt-" + strconv.FormatInt(v, 10), Type: invalidation.TypeInvalidate,
			Tags: []string{"product:1"}, SourceVersion: v, TS: time.Now()}
		if err := p.Publish(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond) // the writer's pace: load, not synchronisation
	}
	for i := range replicas {
		testwait.For(t, 10*time.Second, "every event to be applied", func() bool { return applied[i].Load() == events })
	}
	cancel()
	wg.Wait()
	if v := violations.Load(); v > 0 {
		t.Fatalf("%d of %d reads were older than an applied event; first: %s", v, reads.Load(), firstViolation.Load())
	}
	if reads.Load() < 100 {
		t.Fatalf("only %d reads: the checker checked little", reads.Load())
	}
	t.Logf("%d reads (%d failed requests), %d events, no stale read", reads.Load(), failed.Load(), events)
}

// sharedOrigin is one source of truth behind both replicas.
type sharedOrigin struct{ version atomic.Int64 }

func (o *sharedOrigin) handle(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("application/json")
	ctx.SetBodyString(`{"version":` + strconv.FormatInt(o.version.Load(), 10) + `}`)
}

// TestAdminAcceptsEvents: without Kafka the event JSON is applied by POST
// /admin/invalidate, and bad events get a 400 that says why.
func TestAdminAcceptsEvents(t *testing.T) {
	h := newHarness(t, cachedRoutes(""))
	o := newVersionedOrigin(h.origin)
	h.get("/c/products/5", "")
	o.bump("/c/products/5")
	h.invalidate(t, string(eventJSON(t, invalidation.Event{ID: "evt-1", Tags: []string{"product:5"}})), `"applied":"evt-1"`)
	if r := h.get("/c/products/5", ""); !strings.Contains(r.body, `"version":1`) {
		t.Fatalf("after the event: %q", r.body)
	}
	resp, err := http.Post(h.admin+"/admin/invalidate", "application/json", strings.NewReader(`{"version":9,"id":"x","type":"invalidate","tags":["a"]}`))
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4096)
	n, _ := readAll(resp, b)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(b[:n]), "bad_event") {
		t.Fatalf("unknown version: %d %s", resp.StatusCode, b[:n])
	}
}

// TestKafkaUpsertAndEntityEvents: an upsert produced with kcat writes the
// new values through to the shared Redis view and every replica reads them;
// an entity invalidation drops the row from each replica's memory.
func TestKafkaUpsertAndEntityEvents(t *testing.T) {
	onEachRedis(t, testKafkaUpsertAndEntityEvents)
}

func testKafkaUpsertAndEntityEvents(t *testing.T, rs *sharedRedis) {
	kf := testkafka.Start(t, testkafka.Topic(testTopic, 2))
	mk := func() *harness {
		return newHarness(t, rs.use(func(c *Config) {
			featureRoutes("", "")(c)
			c.Kafka = kafkaConfig(kf.Addr())
		}))
	}
	a, b := mk(), mk()
	waitKafkaReady(t, a, b)
	tok := token(t, jwtClaims("features:read features:write"))
	read := func(h *harness) string {
		return h.mustPost("/v1/features", tok, `{"features":["rv:clicks","rv:country"],"entities":[{"user_id":"u9"}]}`).body
	}
	// Both replicas cache "not found" for u9 first.
	for _, h := range []*harness{a, b} {
		if r := read(h); !strings.Contains(r, "NOT_FOUND") && !strings.Contains(r, "DEFAULT") {
			t.Fatalf("before the upsert: %s", r)
		}
	}
	// The event time, to the nanosecond, is the row's.
	at := time.Now().UTC().Truncate(time.Second).Add(-time.Minute + 123456789)
	upsert := `{"version":1,"id":"evt-up-1","type":"upsert","entities":[{"view":"rv","key":{"user_id":"u9"},"values":{"clicks":41,"country":"IS"}}],"ts":"` + at.Format(time.RFC3339Nano) + `"}`
	testkafka.Kcat(t, kf.Addr(), testTopic, "rv:u9", []byte(upsert))
	for name, h := range map[string]*harness{"A": a, "B": b} {
		testwait.For(t, 10*time.Second, name+" to read the upserted row", func() bool {
			r := read(h)
			return strings.Contains(r, "41") && strings.Contains(r, `"IS"`)
		})
		if r := read(h); !strings.Contains(r, `"`+at.Format("2006-01-02T15:04:05.000000000Z")+`"`) {
			t.Errorf("%s: %s, want the event's time %s", name, r, at.Format(time.RFC3339Nano))
		}
	}
	// A push through A writes Redis and drops A's copy only; the entity
	// event makes B drop its copy too and read the new value.
	push := a.mustPost("/v1/push", tok, `{"view":"rv","rows":[{"entity":{"user_id":"u9"},"values":{"clicks":42}}]}`)
	if push.status != 200 {
		t.Fatalf("push: %d %s", push.status, push.body)
	}
	testkafka.Kcat(t, kf.Addr(), testTopic, "rv:u9", []byte(`{"version":1,"id":"evt-inv-1","type":"invalidate","entities":[{"view":"rv","key":{"user_id":"u9"}}]}`))
	testwait.For(t, 10*time.Second, "B to drop its copy and read the pushed value", func() bool {
		return strings.Contains(read(b), "42")
	})
}

func jwtClaims(scope string) map[string]any { return map[string]any{"scope": scope} }

// TestWriteOnOneReplicaReachesTheOther: a PUT through replica A with
// invalidate_tags publishes an event, and replica B drops its L1 copy.
func TestWriteOnOneReplicaReachesTheOther(t *testing.T) {
	onEachRedis(t, testWriteOnOneReplicaReachesTheOther)
}

func testWriteOnOneReplicaReachesTheOther(t *testing.T, rs *sharedRedis) {
	kf := testkafka.Start(t, testkafka.Topic(testTopic, 2))
	origin := &sharedOrigin{}
	mk := func() *harness {
		h := newHarness(t, rs.use(func(c *Config) {
			cachedRoutes("")(c)
			c.Kafka = kafkaConfig(kf.Addr())
			c.Routes = append(c.Routes, RouteConfig{Name: "c-products-write", Path: "/c/products/{id}", Methods: []string{"PUT"},
				Upstream: "origin", Auth: RouteAuth{Mode: "none"}, InvalidateTags: []string{"product:{id}"}})
		}))
		h.origin.serve(func(ctx *fasthttp.RequestCtx) {
			if ctx.IsPut() {
				origin.version.Add(1)
			}
			origin.handle(ctx)
		})
		return h
	}
	a, b := mk(), mk()
	waitKafkaReady(t, a, b)
	b.get("/c/products/1", "")
	b.srv.current().cache.Wait()
	if r := b.get("/c/products/1", ""); r.header.Get("X-Cache") != "HIT-L1" || !strings.Contains(r.body, `"version":0`) {
		t.Fatalf("B warm-up: %q %q", r.header.Get("X-Cache"), r.body)
	}
	if r := a.do("PUT", "/c/products/1", "", strings.NewReader("x"), nil); r.status != 200 {
		t.Fatalf("PUT on A: %d", r.status)
	}
	testwait.For(t, 10*time.Second, "B to drop the written product", func() bool {
		return strings.Contains(b.get("/c/products/1", "").body, `"version":1`)
	})
}
