package invalidation

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tiercel/tiercel/internal/testwait"
)

// Close stops every goroutine the consumer and the producer started: the
// partition readers (kafka-go's included), discovery, retries.
func TestCloseLeavesNoGoroutine(t *testing.T) {
	k := startKafka(t)
	r := newRecorder()
	c, err := NewConsumer(testConfig(k.Addr()), r, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitReading(t, c, 3)
	p, err := NewProducer(ProducerConfig{Endpoint: Endpoint{Brokers: []string{k.Addr()}}})
	if err != nil {
		t.Fatal(err)
	}
	publish(t, p, tagEvent("e", "a"))
	testwait.For(t, 20*time.Second, "the event", func() bool { return r.has("e") })
	if ours := leftovers(); len(ours) == 0 {
		t.Fatalf("the check finds no consumer goroutine while it runs")
	}
	c.Close()
	c.Close() // twice is fine
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	// Close waited for its goroutines; exiting ones may still be unwinding.
	var left []string
	if !testwait.Until(5*time.Second, func() bool { left = leftovers(); return len(left) == 0 }) {
		t.Fatalf("goroutines left after Close:\n%s", strings.Join(left, "\n\n"))
	}
}

// leftovers returns the stacks of goroutines running code of this package
// or of kafka-go (the broker, kfake, is franz-go and not counted).
func leftovers() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "TestCloseLeavesNoGoroutine") || strings.Contains(g, "leftovers") {
			continue
		}
		if strings.Contains(g, "segmentio/kafka-go") || strings.Contains(g, "tiercel/invalidation.(*Consumer)") {
			out = append(out, g)
		}
	}
	return out
}

func TestBoundedForgetsOldest(t *testing.T) {
	b := newBounded[int](3)
	for i, k := range []string{"a", "b", "c", "d"} {
		b.put(k, i)
	}
	if _, ok := b.get("a"); ok {
		t.Fatalf("oldest kept beyond the bound")
	}
	for _, k := range []string{"b", "c", "d"} {
		if _, ok := b.get(k); !ok {
			t.Fatalf("%s forgotten early", k)
		}
	}
	if len(b.m) != 3 {
		t.Fatalf("%d entries, bound 3", len(b.m))
	}
}

func TestHistogramBuckets(t *testing.T) {
	var h histogram
	for _, d := range []time.Duration{-time.Second, 100 * time.Microsecond, 3 * time.Millisecond, time.Minute} {
		h.observe(d)
	}
	s := h.snapshot()
	if s.Count != 4 || s.Counts[0] != 2 || s.Counts[4] != 1 || s.Counts[len(s.Counts)-1] != 1 || len(s.Counts) != len(s.Bounds)+1 {
		t.Fatalf("histogram %+v", s)
	}
}
