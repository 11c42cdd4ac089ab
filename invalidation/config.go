package invalidation

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"time"

	"github.com/tiercel/tiercel/internal/defaults"
)

// Endpoint is where events are published and read: the part of Config and
// ProducerConfig that names the cluster and the topic, written inline in
// their YAML (kafka.brokers, not kafka.endpoint.brokers).
type Endpoint struct {
	// Brokers are the bootstrap brokers, host:port (required).
	Brokers []string `yaml:"brokers"`

	// Topic is the event topic (default tiercel.invalidations).
	Topic string `yaml:"topic"`

	// DialTimeout bounds connecting to a broker and, for a Consumer, each
	// metadata or offset request (default 2s).
	DialTimeout time.Duration `yaml:"dial_timeout"`
}

const defaultDialTimeout = 2 * time.Second

func (e Endpoint) withDefaults() Endpoint {
	defaults.Set(&e.Topic, DefaultTopic)
	defaults.Set(&e.DialTimeout, defaultDialTimeout)
	return e
}

var topicRE = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

// validate reports the first invalid field by its yaml path; the paths are
// those of Config and ProducerConfig too, since Endpoint is inline in both.
func (e Endpoint) validate() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(e.Brokers) == 0 {
		add("brokers: required")
	}
	for i, b := range e.Brokers {
		if _, port, err := net.SplitHostPort(b); err != nil || port == "" {
			add("brokers[%d]: %q is not host:port", i, b)
		}
	}
	d := e.withDefaults()
	if !topicRE.MatchString(d.Topic) {
		add("topic: %q is not a Kafka topic name", d.Topic)
	}
	if d.DialTimeout < 0 {
		add("dial_timeout: must not be negative")
	}
	return errs
}

// Config configures a Consumer. Zero values mean the documented defaults;
// only Brokers is required.
type Config struct {
	Endpoint `yaml:",inline"`

	// Replay is how far back a starting consumer reads (default 1h). Keep it
	// at least the cache's TombstoneTTL, which caps every entry's lifetime:
	// then every event that could concern a live entry is replayed, even if
	// every replica was down when it was published. Replays of events
	// already applied cost one Redis round trip each, not cache misses.
	Replay time.Duration `yaml:"replay"`

	// MaxGap is how long the broker may be unreachable before this replica
	// drops its L1 (Applier.DropL1) and reports not ready (default 30s).
	// It bounds how long a replica serves L1 entries that an event it could
	// not read has invalidated.
	MaxGap time.Duration `yaml:"max_gap"`

	// MaxWait is the fetch long-poll (default 100ms, at most 1s). kafka-go's
	// own default of 10s makes Close wait up to 10s per partition.
	MaxWait time.Duration `yaml:"max_wait"`

	// DiscoverInterval is how often partitions are listed, which also
	// probes the broker for the gap detection (default 5s; never more than
	// MaxGap/4, so a gap is noticed soon after MaxGap).
	DiscoverInterval time.Duration `yaml:"discover_interval"`

	// DedupSize bounds the remembered event ids (default 100000, ~100
	// bytes each). Repeats older than that are applied again: harmless,
	// since applying is idempotent.
	DedupSize int `yaml:"dedup_size"`

	// VersionsSize bounds the remembered source_version per entity and tag
	// (default 100000). Forgetting one only lets a much later, older event
	// through.
	VersionsSize int `yaml:"versions_size"`

	// ApplyAttempts is how often an event is tried before it is counted as
	// apply_failed and skipped (default 4). The consumer never stalls on one
	// event: a dead Redis must not stop L1 invalidations of later events.
	ApplyAttempts int `yaml:"apply_attempts"`

	// ApplyTimeout bounds one Apply call (default 2s).
	ApplyTimeout time.Duration `yaml:"apply_timeout"`

	// ApplyBackoff is the wait before the second attempt, doubled for each
	// further one (default 50ms).
	ApplyBackoff time.Duration `yaml:"apply_backoff"`
}

const (
	defaultReplay           = time.Hour
	defaultMaxGap           = 30 * time.Second
	defaultMaxWait          = 100 * time.Millisecond
	defaultDiscoverInterval = 5 * time.Second
	defaultDedupSize        = 100_000
	defaultVersionsSize     = 100_000
	defaultApplyAttempts    = 4
	defaultApplyTimeout     = 2 * time.Second
	defaultApplyBackoff     = 50 * time.Millisecond
)

func (c Config) withDefaults() Config {
	c.Endpoint = c.Endpoint.withDefaults()
	defaults.Set(&c.Replay, defaultReplay)
	defaults.Set(&c.MaxGap, defaultMaxGap)
	defaults.Set(&c.MaxWait, defaultMaxWait)
	defaults.Set(&c.DiscoverInterval, defaultDiscoverInterval)
	c.DiscoverInterval = min(c.DiscoverInterval, c.MaxGap/4)
	defaults.Set(&c.DedupSize, defaultDedupSize)
	defaults.Set(&c.VersionsSize, defaultVersionsSize)
	defaults.Set(&c.ApplyAttempts, defaultApplyAttempts)
	defaults.Set(&c.ApplyTimeout, defaultApplyTimeout)
	defaults.Set(&c.ApplyBackoff, defaultApplyBackoff)
	return c
}

// Validate reports every invalid field, each by its yaml path relative to
// Config. Zero values are valid: they stand for the defaults.
func (c Config) Validate() error {
	errs := c.Endpoint.validate()
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	d := c.withDefaults()
	if d.Replay < 0 {
		add("replay: must not be negative")
	}
	if d.MaxGap < 100*time.Millisecond {
		add("max_gap: must be >= 100ms, got %s", d.MaxGap)
	}
	if d.MaxWait < time.Millisecond || d.MaxWait > time.Second {
		add("max_wait: must be between 1ms and 1s, got %s", d.MaxWait)
	}
	if d.DiscoverInterval < 0 {
		add("discover_interval: must not be negative")
	}
	if d.DedupSize < 1 {
		add("dedup_size: must be >= 1")
	}
	if d.VersionsSize < 1 {
		add("versions_size: must be >= 1")
	}
	if d.ApplyAttempts < 1 {
		add("apply_attempts: must be >= 1")
	}
	if d.ApplyTimeout < 0 {
		add("apply_timeout: must not be negative")
	}
	if d.ApplyBackoff < 0 {
		add("apply_backoff: must not be negative")
	}
	return errors.Join(errs...)
}

// ProducerConfig configures a Producer. Zero values mean the documented
// defaults; only Brokers is required.
type ProducerConfig struct {
	Endpoint `yaml:",inline"`

	// BatchTimeout is how long a message waits for others to share its
	// produce request (default 1ms). kafka-go's default of 1s would make
	// each synchronous Publish take a second.
	BatchTimeout time.Duration `yaml:"batch_timeout"`

	// WriteTimeout bounds one produce request (default 5s); Publish's ctx
	// bounds the whole call, retries included.
	WriteTimeout time.Duration `yaml:"write_timeout"`

	// Logger receives kafka-go's lines: one per batch at debug, errors at
	// warn. nil: kafka-go logs nothing.
	Logger *slog.Logger `yaml:"-"`
}

func (c ProducerConfig) withDefaults() ProducerConfig {
	c.Endpoint = c.Endpoint.withDefaults()
	defaults.Set(&c.BatchTimeout, time.Millisecond)
	defaults.Set(&c.WriteTimeout, 5*time.Second)
	return c
}

// Validate reports every invalid field by its yaml path.
func (c ProducerConfig) Validate() error {
	errs := c.Endpoint.validate()
	d := c.withDefaults()
	if d.BatchTimeout < 0 {
		errs = append(errs, errors.New("batch_timeout: must not be negative"))
	}
	if d.WriteTimeout < 0 {
		errs = append(errs, errors.New("write_timeout: must not be negative"))
	}
	return errors.Join(errs...)
}
