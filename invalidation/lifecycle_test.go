package invalidation

import (
	"runtime"
	"strings"
	"testing"
	"time"
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
	p, err := NewProducer(ProducerConfig{Brokers: []string{k.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	publish(t, p, tagEvent("e", "a"))
	waitFor(t, "the event", func() bool { return r.has("e") })
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
	deadline := time.Now().Add(5 * time.Second)
	for left = leftovers(); len(left) > 0 && time.Now().Before(deadline); left = leftovers() {
		time.Sleep(5 * time.Millisecond)
	}
	if len(left) > 0 {
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

func TestConfigValidate(t *testing.T) {
	f := func(c Config, want string) {
		t.Helper()
		err := c.Validate()
		if (want == "") != (err == nil) || (err != nil && !strings.HasPrefix(err.Error(), want)) {
			t.Fatalf("Validate(%+v) = %v, want %q", c, err, want)
		}
	}
	ok := Config{Brokers: []string{"localhost:9092"}}
	f(ok, "")
	f(Config{}, "brokers: required")
	f(Config{Brokers: []string{"localhost"}}, "brokers[0]: ")
	f(Config{Brokers: []string{"a:1", ":"}}, "brokers[1]: ")
	with := func(mod func(*Config)) Config { c := ok; mod(&c); return c }
	f(with(func(c *Config) { c.Topic = "bad topic" }), "topic: ")
	f(with(func(c *Config) { c.Replay = -time.Second }), "replay: ")
	f(with(func(c *Config) { c.MaxGap = time.Millisecond }), "max_gap: ")
	f(with(func(c *Config) { c.MaxWait = 10 * time.Second }), "max_wait: ")
	f(with(func(c *Config) { c.DedupSize = -1 }), "dedup_size: ")
	f(with(func(c *Config) { c.ApplyAttempts = -1 }), "apply_attempts: ")

	d := ok.withDefaults()
	if d.Topic != DefaultTopic || d.Replay != time.Hour || d.MaxGap != 30*time.Second || d.MaxWait != 100*time.Millisecond || d.DiscoverInterval != 5*time.Second {
		t.Fatalf("defaults: %+v", d)
	}
	if err := (ProducerConfig{}).Validate(); err == nil || err.Error() != "brokers: required" {
		t.Fatalf("ProducerConfig{}.Validate() = %v", err)
	}
	if err := (ProducerConfig{Brokers: []string{"k:9092"}, BatchTimeout: -1}).Validate(); err == nil || !strings.HasPrefix(err.Error(), "batch_timeout: ") {
		t.Fatalf("negative batch_timeout: %v", err)
	}
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
