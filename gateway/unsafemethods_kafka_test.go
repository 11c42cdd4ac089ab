package gateway

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tiercel/tiercel/internal/testkafka"
	"github.com/tiercel/tiercel/internal/testwait"
	"github.com/tiercel/tiercel/invalidation"
)

// newKafkaWritePair is newWritePair with both replicas on one Kafka
// broker, its topic in one partition so that events arrive in the order
// they were published, and B recording the events it applies.
func newKafkaWritePair(t *testing.T, rs *sharedRedis, mutate func(*Config)) (*writePair, *appliedEvents, string) {
	t.Helper()
	kf := testkafka.Start(t, testkafka.Topic(testTopic, 1))
	o := startWriteOrigin(t)
	cfg := rs.use(func(c *Config) {
		writeRoutes("")(c)
		c.Kafka = kafkaConfig(kf.Addr())
		if mutate != nil {
			mutate(c)
		}
	})
	addr := strings.TrimPrefix(o.srv.URL, "http://")
	p := &writePair{a: startReplica(t, addr, cfg), b: startReplica(t, addr, cfg), origin: o, redis: rs}
	ev := &appliedEvents{}
	p.b.srv.current().applier.applied = ev.add
	waitKafkaReady(t, p.a, p.b)
	return p, ev, kf.Addr()
}

// appliedEvents records the events a replica applied.
type appliedEvents struct {
	mu  sync.Mutex
	evs []*invalidation.Event
}

func (a *appliedEvents) add(ev *invalidation.Event) {
	a.mu.Lock()
	a.evs = append(a.evs, ev)
	a.mu.Unlock()
}

// until publishes a sentinel event, waits until it is applied and returns
// the events applied before it: with one partition, all that were
// published before it.
func (a *appliedEvents) until(t *testing.T, brokers string) []*invalidation.Event {
	t.Helper()
	prod, err := invalidation.NewProducer(invalidation.ProducerConfig{Endpoint: invalidation.Endpoint{Brokers: []string{brokers}, Topic: testTopic}})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sentinel := &invalidation.Event{Version: invalidation.Version, ID: invalidation.NewID(), Type: invalidation.TypeInvalidate, Tags: []string{"sentinel"}}
	if err := prod.Publish(ctx, sentinel); err != nil {
		t.Fatal(err)
	}
	var before []*invalidation.Event
	testwait.For(t, 10*time.Second, "the sentinel event to be applied", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		i := slices.IndexFunc(a.evs, func(ev *invalidation.Event) bool { return ev.ID == sentinel.ID })
		before = slices.Clone(a.evs[:max(i, 0)])
		return i >= 0
	})
	return before
}

// TestUnsafeMethodReachesEveryReplica: RFC 9111 §4.4 through a fleet: a
// POST through replica A, on a gateway configured with no invalidate_tags
// at all, publishes an event, and replica B drops the stored responses of
// the target URI from its L1, every keyed variant.
func TestUnsafeMethodReachesEveryReplica(t *testing.T) {
	onEachRedis(t, testUnsafeMethodReachesEveryReplica)
}

func testUnsafeMethodReachesEveryReplica(t *testing.T, rs *sharedRedis) {
	p, _, _ := newKafkaWritePair(t, rs, nil)
	vs := variants(t, "/w/k")
	warm(t, p.a, vs)
	warm(t, p.b, vs)
	before := p.origin.version.Load()
	write(t, p.a, "POST", "/w/k", 200)
	expect(t, p.a, vs, before, "MISS")
	for _, v := range vs {
		testwait.For(t, 10*time.Second, "B to drop "+v.target+" "+strings.Join(v.lines, ""), func() bool {
			return p.b.raw("GET", v.target, v.lines...).version(t) > before
		})
	}
}

// TestWriteSendsOneEvent: a write on a route with invalidate_tags
// publishes one event carrying the route's tags and the path tag of its
// target URI (RFC 9111 §4.4), not one event each.
func TestWriteSendsOneEvent(t *testing.T) {
	onEachRedis(t, testWriteSendsOneEvent)
}

func testWriteSendsOneEvent(t *testing.T, rs *sharedRedis) {
	p, applied, brokers := newKafkaWritePair(t, rs, func(c *Config) {
		c.Routes[len(c.Routes)-1].InvalidateTags = []string{"item:{id}"}
	})
	vs := variants(t, "/w/one")
	warm(t, p.b, vs)
	before := p.origin.version.Load()
	write(t, p.a, "PUT", "/w/one", 200)
	evs := applied.until(t, brokers)
	if len(evs) != 1 || !slices.Equal(evs[0].Tags, []string{"item:one", "{}path:/w/one"}) {
		for _, ev := range evs {
			t.Logf("applied: %s %q", ev.ID, ev.Tags)
		}
		t.Fatalf("B applied %d events, want one with the route's tag and the path tag", len(evs))
	}
	expect(t, p.b, vs, before, "MISS")
}
