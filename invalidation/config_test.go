package invalidation

import (
	"strings"
	"testing"
	"time"

	"github.com/tiercel/tiercel/internal/yamlconf"
)

func TestConfigValidate(t *testing.T) {
	f := func(c Config, want string) {
		t.Helper()
		err := c.Validate()
		if (want == "") != (err == nil) || (err != nil && !strings.HasPrefix(err.Error(), want)) {
			t.Fatalf("Validate(%+v) = %v, want %q", c, err, want)
		}
	}
	ok := Config{Endpoint: Endpoint{Brokers: []string{"localhost:9092"}}}
	f(ok, "")
	with := func(mod func(*Config)) Config { c := ok; mod(&c); return c }
	f(with(func(c *Config) { c.Replay = -time.Second }), "replay: ")
	f(with(func(c *Config) { c.MaxGap = time.Millisecond }), "max_gap: ")
	f(with(func(c *Config) { c.MaxWait = 10 * time.Second }), "max_wait: ")
	f(with(func(c *Config) { c.DedupSize = -1 }), "dedup_size: ")
	f(with(func(c *Config) { c.ApplyAttempts = -1 }), "apply_attempts: ")
	f(with(func(c *Config) { c.Brokers = nil; c.Replay = -1; c.ApplyBackoff = -1 }),
		"brokers: required\nreplay: must not be negative\napply_backoff: must not be negative")

	d := ok.withDefaults()
	if d.Topic != DefaultTopic || d.DialTimeout != 2*time.Second || d.Replay != time.Hour || d.MaxGap != 30*time.Second ||
		d.MaxWait != 100*time.Millisecond || d.DiscoverInterval != 5*time.Second {
		t.Fatalf("defaults: %+v", d)
	}
}

func TestProducerConfigValidate(t *testing.T) {
	ok := ProducerConfig{Endpoint: Endpoint{Brokers: []string{"k:9092"}}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("Validate(%+v) = %v", ok, err)
	}
	bad := ok
	bad.BatchTimeout = -1
	if err := bad.Validate(); err == nil || !strings.HasPrefix(err.Error(), "batch_timeout: ") {
		t.Fatalf("negative batch_timeout: %v", err)
	}
	d := ok.withDefaults()
	if d.Topic != DefaultTopic || d.DialTimeout != 2*time.Second || d.BatchTimeout != time.Millisecond || d.WriteTimeout != 5*time.Second {
		t.Fatalf("defaults: %+v", d)
	}
}

// The consumer's and the producer's Validate both report a bad Endpoint
// with its own yaml path, since it is inline in both.
func TestEndpointValidate(t *testing.T) {
	f := func(e Endpoint, want string) {
		t.Helper()
		for name, err := range map[string]error{
			"Config":         Config{Endpoint: e}.Validate(),
			"ProducerConfig": ProducerConfig{Endpoint: e}.Validate(),
		} {
			if (want == "") != (err == nil) || (err != nil && err.Error() != want) {
				t.Errorf("%s{%+v}.Validate() = %v, want %q", name, e, err, want)
			}
		}
	}
	brokers := []string{"localhost:9092"}
	f(Endpoint{Brokers: brokers}, "")
	f(Endpoint{Brokers: brokers, Topic: "my.topic", DialTimeout: time.Second}, "")
	f(Endpoint{}, "brokers: required")
	f(Endpoint{Brokers: []string{"localhost"}}, `brokers[0]: "localhost" is not host:port`)
	f(Endpoint{Brokers: []string{"a:1", ":"}}, `brokers[1]: ":" is not host:port`)
	f(Endpoint{Brokers: brokers, Topic: "bad topic"}, `topic: "bad topic" is not a Kafka topic name`)
	f(Endpoint{Brokers: brokers, DialTimeout: -time.Second}, "dial_timeout: must not be negative")
	// Every problem, one line each.
	f(Endpoint{Brokers: []string{"x", "a:1"}, Topic: "bad topic", DialTimeout: -1},
		"brokers[0]: \"x\" is not host:port\ntopic: \"bad topic\" is not a Kafka topic name\ndial_timeout: must not be negative")
}

// Endpoint's fields are written at the top of the kafka section, as they
// were before Config and ProducerConfig shared them.
func TestEndpointYAMLInline(t *testing.T) {
	const doc = "brokers: [\"k1:9092\", \"k2:9092\"]\ntopic: my.topic\ndial_timeout: 3s\nmax_wait: 200ms\n"
	var c Config
	if err := yamlconf.Decode([]byte(doc), &c, nil); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if len(c.Brokers) != 2 || c.Brokers[1] != "k2:9092" || c.Topic != "my.topic" || c.DialTimeout != 3*time.Second || c.MaxWait != 200*time.Millisecond {
		t.Fatalf("decoded %+v", c)
	}
	var p ProducerConfig
	if err := yamlconf.Decode([]byte("brokers: [\"k1:9092\"]\ntopic: t\nbatch_timeout: 2ms\n"), &p, nil); err != nil {
		t.Fatalf("Decode producer: %v", err)
	}
	if p.Brokers[0] != "k1:9092" || p.Topic != "t" || p.BatchTimeout != 2*time.Millisecond {
		t.Fatalf("decoded %+v", p)
	}
	err := yamlconf.Decode([]byte("endpoint: {brokers: [\"k1:9092\"]}\n"), &Config{}, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "endpoint: unknown field") {
		t.Fatalf("nested endpoint key: %v, want unknown field", err)
	}
}
