package cache

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tiercel/tiercel/internal/breaker"
	"github.com/tiercel/tiercel/internal/defaults"
)

// Config sizes and bounds a Tiered cache. Zero values mean the documented
// defaults, so the zero Config is a valid production configuration.
type Config struct {
	// L1MaxBytes bounds the in-process tier (default 256 MiB, at least 1 MiB).
	// Each entry costs its encoded size (key, value, tags, windows) plus
	// ristretto's per-item bookkeeping, so this is close to real heap use.
	L1MaxBytes int64 `yaml:"l1_max_bytes"`

	// L1Counters is the number of admission counters (default: ten per
	// expected entry, assuming 1 KiB entries, i.e. L1MaxBytes/100). Raise it
	// when entries are much smaller than 1 KiB: ristretto admits well only
	// with about ten counters per resident entry; each costs ~3 bytes.
	L1Counters int64 `yaml:"l1_counters"`

	// L2Timeout bounds every Redis read a request waits for (default 5ms, at
	// most 1s). A slower Redis is treated as absent: the request goes on to
	// the fill or stale data, never waits longer.
	L2Timeout time.Duration `yaml:"l2_timeout"`

	// KeyPrefix starts every Redis key written by the cache (default
	// "tiercel:"), so several deployments can share one Redis. A "{" in it
	// must open a non-empty hash tag closed within it ("{tiercel}:"), which
	// puts every key on one Redis Cluster slot; a brace elsewhere would
	// move the idempotence markers off their generations' slots.
	KeyPrefix string `yaml:"key_prefix"`

	// TombstoneTTL is how long an applied invalidation is remembered, both as
	// a local tombstone and as a generation key in Redis (default 1h, at least
	// 1s). It is also the longest time any entry stays in either tier after
	// its fill started: an entry must be gone before the tombstone that could
	// fence it, or an old value could come back. Entries whose windows end
	// later are simply filled again.
	TombstoneTTL time.Duration `yaml:"tombstone_ttl"`

	// MaxTombstones bounds the local tombstones (default 100000, ~100 bytes
	// each). When full, the oldest is dropped and every L1 entry filled before
	// it is treated as invalidated: extra misses, never an old value.
	MaxTombstones int `yaml:"max_tombstones"`

	// FillTimeout is the default deadline of one coalesced fill, used when
	// Request.FillTimeout is zero (default 10s). Waiters leave at their own
	// deadline; the fill goes on to completion to serve the next requests.
	FillTimeout time.Duration `yaml:"fill_timeout"`

	// InvalidateTimeout bounds the Redis part of one Invalidate call
	// (default 1s), whatever the caller's deadline: see Tiered.Invalidate.
	InvalidateTimeout time.Duration `yaml:"invalidate_timeout"`

	// L2QueueSize bounds both the pending Redis reads and the pending
	// asynchronous Redis writes (default 4096 each). When full, a read skips
	// L2 and a write is dropped; both are counted.
	L2QueueSize int `yaml:"l2_queue_size"`

	// L2BatchMax caps how many reads (or writes) go into one pipeline
	// (default 256), so that one huge batch cannot exceed L2Timeout.
	L2BatchMax int `yaml:"l2_batch_max"`

	// L2ClusterScripts reads each batch on a Redis Cluster with one script
	// per master instead of one GET per key (default false; a single node
	// always reads a batch with one MGET). It needs Redis 7.0 or later (an
	// older one is detected, and read with GETs). It cuts the gateway's CPU
	// per L2 read by ~30% and its allocations by 40%, but costs the masters
	// ~80% more CPU per read (a Lua call per key), as BenchmarkL2ReadCluster
	// (cache_timing_test.go: batched against batched-script) measures, in
	// bench/results/2026-12-03-issue15: turn it on only when the gateways,
	// not the shards, run out of CPU.
	L2ClusterScripts bool `yaml:"l2_cluster_scripts"`

	// Breaker guards Redis: while it is open the cache runs L1-only and
	// does not touch Redis at all. Failures counts failed round trips (one
	// pipeline each; default 5, negative: no breaker); Cooldown is how long
	// it stays open before one probe round trip (default 1s: a cache
	// without its L2 is slower, not broken, so it probes soon).
	Breaker breaker.Config `yaml:"breaker"`
}

const (
	mib = 1 << 20

	defaultL1MaxBytes        = 256 * mib
	defaultL2Timeout         = 5 * time.Millisecond
	defaultKeyPrefix         = "tiercel:"
	defaultTombstoneTTL      = time.Hour
	defaultMaxTombstones     = 100_000
	defaultFillTimeout       = 10 * time.Second
	defaultInvalidateTimeout = time.Second
	defaultL2QueueSize       = 4096
	defaultL2BatchMax        = 256
	defaultBreakerCooldown   = time.Second
)

// withDefaults returns a copy of c with zero values replaced by defaults.
func (c Config) withDefaults() Config {
	defaults.Set(&c.L1MaxBytes, defaultL1MaxBytes)
	defaults.Set(&c.L1Counters, c.L1MaxBytes/100)
	defaults.Set(&c.L2Timeout, defaultL2Timeout)
	defaults.Set(&c.KeyPrefix, defaultKeyPrefix)
	defaults.Set(&c.TombstoneTTL, defaultTombstoneTTL)
	defaults.Set(&c.MaxTombstones, defaultMaxTombstones)
	defaults.Set(&c.FillTimeout, defaultFillTimeout)
	defaults.Set(&c.InvalidateTimeout, defaultInvalidateTimeout)
	defaults.Set(&c.L2QueueSize, defaultL2QueueSize)
	defaults.Set(&c.L2BatchMax, defaultL2BatchMax)
	c.Breaker = c.Breaker.Or(breaker.Config{Failures: breaker.DefaultFailures, Cooldown: defaultBreakerCooldown})
	return c
}

// Validate reports every invalid field, each named by its yaml path
// relative to Config. Zero values are valid: they stand for the defaults.
func (c Config) Validate() error {
	d := c.withDefaults()
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if d.L1MaxBytes < mib {
		add("l1_max_bytes: must be >= 1 MiB")
	}
	// Unset, it follows l1_max_bytes: only a value given can be wrong.
	if c.L1Counters != 0 && d.L1Counters < 1000 {
		add("l1_counters: must be >= 1000")
	}
	if d.L2Timeout < 100*time.Microsecond || d.L2Timeout > time.Second {
		add("l2_timeout: must be between 100µs and 1s, got %s", d.L2Timeout)
	}
	if strings.ContainsRune(d.KeyPrefix, '{') && hashTag(d.KeyPrefix) == d.KeyPrefix {
		add("key_prefix: a \"{\" must open a non-empty hash tag closed within the prefix, got %q", d.KeyPrefix)
	}
	if d.TombstoneTTL < time.Second {
		add("tombstone_ttl: must be >= 1s, got %s", d.TombstoneTTL)
	}
	if d.MaxTombstones < 1 {
		add("max_tombstones: must be >= 1")
	}
	if d.FillTimeout < 0 {
		add("fill_timeout: must not be negative")
	}
	if d.InvalidateTimeout < 0 {
		add("invalidate_timeout: must not be negative")
	}
	if d.L2QueueSize < 1 {
		add("l2_queue_size: must be >= 1")
	}
	if d.L2BatchMax < 1 {
		add("l2_batch_max: must be >= 1")
	}
	errs = append(errs, c.Breaker.Validate("breaker"))
	return errors.Join(errs...)
}
