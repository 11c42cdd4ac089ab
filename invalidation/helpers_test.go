package invalidation

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/tiercel/tiercel/internal/testkafka"
	"github.com/tiercel/tiercel/internal/testwait"
)

// recorder is a replica's Applier: it records what it applied.
type recorder struct {
	mu      sync.Mutex
	applied map[string]int // id -> times applied
	events  []*Event
	at      map[string]time.Time // id -> first applied
	fail    func(ev *Event, attempt int) error
	tries   map[string]int
	drops   atomic.Int64
}

func newRecorder() *recorder {
	return &recorder{applied: map[string]int{}, at: map[string]time.Time{}, tries: map[string]int{}}
}

func (r *recorder) Apply(_ context.Context, ev *Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tries[ev.ID]++
	if r.fail != nil {
		if err := r.fail(ev, r.tries[ev.ID]); err != nil {
			return err
		}
	}
	if r.applied[ev.ID] == 0 {
		r.at[ev.ID] = time.Now()
	}
	r.applied[ev.ID]++
	r.events = append(r.events, ev)
	return nil
}

func (r *recorder) DropL1() { r.drops.Add(1) }

func (r *recorder) count(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.applied[id]
}

func (r *recorder) has(ids ...string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		if r.applied[id] == 0 {
			return false
		}
	}
	return true
}

func (r *recorder) event(id string) *Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ev := range r.events {
		if ev.ID == id {
			return ev
		}
	}
	return nil
}

// testConfig is quick to notice gaps and to close.
func testConfig(addr string) Config {
	return Config{
		Endpoint:         Endpoint{Brokers: []string{addr}, DialTimeout: 500 * time.Millisecond},
		MaxGap:           400 * time.Millisecond,
		DiscoverInterval: 50 * time.Millisecond,
		MaxWait:          50 * time.Millisecond,
		ApplyBackoff:     time.Millisecond,
	}
}

func startConsumer(t testing.TB, cfg Config, a Applier) *Consumer {
	t.Helper()
	c, err := NewConsumer(cfg, a, nil)
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitReading waits until c reads all partitions of the test topic.
func waitReading(t testing.TB, c *Consumer, partitions int) {
	t.Helper()
	testwait.For(t, 20*time.Second, "the consumer to read every partition", func() bool {
		return c.Status().Partitions == partitions && c.Ready() == nil
	})
}

func newProducer(t testing.TB, addr string) *Producer {
	t.Helper()
	p, err := NewProducer(ProducerConfig{Endpoint: Endpoint{Brokers: []string{addr}}})
	if err != nil {
		t.Fatalf("NewProducer: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func publish(t testing.TB, p *Producer, ev *Event) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Publish(ctx, ev); err != nil {
		t.Fatalf("Publish(%s): %v", ev.ID, err)
	}
}

// publishRetrying publishes through a broker restart: errors are retried
// until a deadline.
func publishRetrying(t testing.TB, p *Producer, ev *Event) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := p.Publish(ctx, ev)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Publish(%s): %v", ev.ID, err)
		}
	}
}

func tagEvent(id, tag string) *Event {
	return &Event{ID: id, Type: TypeInvalidate, Tags: []string{tag}}
}

// writeRaw writes raw message values, bypassing the producer's checks.
func writeRaw(t testing.TB, addr string, msgs ...kafka.Message) {
	t.Helper()
	// Its own transport: kafka-go's shared DefaultTransport would keep
	// connection goroutines past the test (see TestCloseLeavesNoGoroutine).
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: DefaultTopic, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond, Transport: tr}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("cannot write raw messages: %v", err)
	}
}

func startKafka(t testing.TB) *testkafka.Cluster {
	return testkafka.Start(t, testkafka.Topic(DefaultTopic, 3))
}

// readingConsumer starts a broker and one consumer (testConfig) that records
// into a new recorder, and waits until it reads every partition: the start
// of most consumer tests.
func readingConsumer(t testing.TB) (*testkafka.Cluster, *recorder, *Consumer) {
	t.Helper()
	k := startKafka(t)
	r := newRecorder()
	c := startConsumer(t, testConfig(k.Addr()), r)
	waitReading(t, c, 3)
	return k, r, c
}

func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

var errBoom = errors.New("redis down")
