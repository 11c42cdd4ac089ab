package ratelimit

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/tiercel/tiercel/internal/breaker"
	"github.com/tiercel/tiercel/internal/defaults"
)

// Defaults applied to zero Config fields.
const (
	DefaultIdleTTL      = 10 * time.Minute
	DefaultMaxKeys      = 1_000_000
	DefaultRedisTimeout = 5 * time.Millisecond
	// DefaultBreakerCooldown is Config.Breaker.Cooldown's default: short,
	// as limits are still enforced locally while the breaker is open.
	DefaultBreakerCooldown = time.Second
)

// Key kinds a policy can limit by.
const (
	KeySubject = "subject" // the authenticated subject; the client IP for anonymous requests
	KeyTenant  = "tenant"
	KeyIP      = "ip"
)

// maxRate keeps the per-token interval at one nanosecond or more, the
// resolution of both time.Duration and the Redis limit mapping.
const maxRate = 1e9

// Config is the rate limiter's part of the gateway configuration.
type Config struct {
	// Policies by name; routes refer to them through Limiter.Route.
	Policies map[string]Policy `yaml:"policies"`

	// IdleTTL is how long a key's bucket may go unused before it is evicted.
	// Zero means DefaultIdleTTL. Longer than the slowest refill (burst/rate)
	// is pointless: an idle bucket that is full again is the same as a new one.
	IdleTTL time.Duration `yaml:"idle_ttl"`

	// MaxKeys bounds the buckets one route holds; beyond it idle buckets are
	// evicted first, then arbitrary ones. Zero means DefaultMaxKeys. A bucket
	// costs roughly 200 bytes with its key, so size it from memory:
	// 1M keys ≈ 200 MB per route at worst.
	MaxKeys int `yaml:"max_keys"`

	// RedisTimeout bounds each cluster-mode Redis call (together with the
	// request's own deadline) before the local bucket answers instead. Zero
	// means DefaultRedisTimeout. It is added to the latency of every
	// request while Redis hangs until the breaker opens, so keep it to a
	// few round trips.
	RedisTimeout time.Duration `yaml:"redis_timeout"`

	// Breaker guards the cluster-mode Redis calls: after Failures
	// consecutive failed calls (default 5: enough to ignore a lone blip,
	// few enough that a dead Redis costs a handful of RedisTimeouts rather
	// than one per request) nothing is sent to Redis for Cooldown (default
	// DefaultBreakerCooldown), then one probe. Negative Failures: no breaker.
	Breaker breaker.Config `yaml:"breaker"`
}

// Policy is one named limit.
type Policy struct {
	// Rate is the sustained rate in tokens (requests) per second. Required.
	Rate float64 `yaml:"rate"`

	// Burst is the bucket size: how many requests may arrive at once.
	// Zero means one second's worth of Rate (at least 1).
	Burst int `yaml:"burst"`

	// Key is what the bucket is per: KeySubject (default), KeyTenant or KeyIP.
	Key string `yaml:"key"`

	// TierClaim documents which claim selects the tier. Only "plan" (the
	// default) is supported: the gateway passes the principal's plan.
	TierClaim string `yaml:"tier_claim"`

	// Tiers overrides Rate and Burst per tier (plan) value. An unknown or
	// empty tier uses the policy's own Rate and Burst.
	Tiers map[string]Tier `yaml:"tiers"`

	// Cluster enforces the limit across all gateway instances through Redis
	// when the Limiter has a Redis client; otherwise it is local.
	Cluster bool `yaml:"cluster"`
}

// Tier is a policy's limit for one tier value.
type Tier struct {
	Rate  float64 `yaml:"rate"`  // tokens per second; required
	Burst int     `yaml:"burst"` // zero means one second's worth of Rate (at least 1)
}

// Validate reports every invalid field, each message starting with the
// field's path relative to Config.
func (c Config) Validate() error {
	var errs []error
	if c.IdleTTL < 0 {
		errs = append(errs, errors.New("idle_ttl: must be >= 0"))
	}
	if c.MaxKeys < 0 {
		errs = append(errs, errors.New("max_keys: must be >= 0"))
	}
	if c.RedisTimeout < 0 {
		errs = append(errs, errors.New("redis_timeout: must be >= 0"))
	}
	errs = append(errs, c.Breaker.Validate("breaker"))
	// Sorted, so that the messages come in the same order every time.
	for _, name := range slices.Sorted(maps.Keys(c.Policies)) {
		if name == "" {
			errs = append(errs, errors.New("policies: policy name must not be empty"))
			continue
		}
		errs = append(errs, c.Policies[name].validate("policies."+name)...)
	}
	return errors.Join(errs...)
}

func (p Policy) validate(path string) []error {
	errs := validateLimit(path, p.Rate, p.Burst)
	switch p.Key {
	case "", KeySubject, KeyTenant, KeyIP:
	default:
		errs = append(errs, fmt.Errorf("%s.key: must be one of %q, %q, %q; got %q", path, KeySubject, KeyTenant, KeyIP, p.Key))
	}
	if p.TierClaim != "" && p.TierClaim != "plan" {
		errs = append(errs, fmt.Errorf("%s.tier_claim: must be \"plan\" (the only claim the gateway passes as tier); got %q", path, p.TierClaim))
	}
	for _, name := range slices.Sorted(maps.Keys(p.Tiers)) {
		if name == "" {
			errs = append(errs, fmt.Errorf("%s.tiers: tier name must not be empty", path))
			continue
		}
		t := p.Tiers[name]
		errs = append(errs, validateLimit(path+".tiers."+name, t.Rate, t.Burst)...)
	}
	return errs
}

func validateLimit(path string, rate float64, burst int) []error {
	var errs []error
	switch {
	case math.IsInf(rate, 0):
		errs = append(errs, fmt.Errorf("%s.rate: must be finite", path))
	case !(rate > 0): // also catches NaN
		errs = append(errs, fmt.Errorf("%s.rate: must be > 0", path))
	case rate > maxRate:
		errs = append(errs, fmt.Errorf("%s.rate: must be <= %g", path, float64(maxRate)))
	}
	if burst < 0 {
		errs = append(errs, fmt.Errorf("%s.burst: must be >= 0", path))
	}
	return errs
}

// withDefaults returns c with zero fields replaced by their defaults.
func (c Config) withDefaults() Config {
	defaults.Set(&c.IdleTTL, DefaultIdleTTL)
	defaults.Set(&c.MaxKeys, DefaultMaxKeys)
	defaults.Set(&c.RedisTimeout, DefaultRedisTimeout)
	c.Breaker = c.Breaker.Or(breaker.Config{Failures: breaker.DefaultFailures, Cooldown: DefaultBreakerCooldown})
	return c
}

// defaultBurst is one second's worth of rate, so a client may spend its
// per-second allowance at once but not more.
func defaultBurst(rate float64, burst int) int {
	if burst > 0 {
		return burst
	}
	return max(1, int(math.Ceil(rate)))
}
