package ratelimit

import (
	"math"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"golang.org/x/time/rate"

	"github.com/tiercel/tiercel/internal/defaults"
)

// limits is one rate and burst, precomputed for both the local bucket and
// Redis. Entries point at the limits they were last set to, so a tier change
// is a pointer comparison on the hot path.
type limits struct {
	rate  rate.Limit
	burst int
	redis redis_rate.Limit
}

// policy is a validated Policy with defaults applied and tiers precomputed.
type policy struct {
	key     string
	cluster bool
	base    *limits
	tiers   map[string]*limits
}

func compilePolicy(p Policy) *policy {
	c := &policy{
		key:     p.Key,
		cluster: p.Cluster,
		base:    newLimits(p.Rate, p.Burst),
		tiers:   make(map[string]*limits, len(p.Tiers)),
	}
	defaults.Set(&c.key, KeySubject)
	for name, t := range p.Tiers {
		c.tiers[name] = newLimits(t.Rate, t.Burst)
	}
	return c
}

func newLimits(r float64, burst int) *limits {
	burst = defaultBurst(r, burst)
	return &limits{rate: rate.Limit(r), burst: burst, redis: redisLimit(r, burst)}
}

// forTier returns the tier's limits, or the policy's own for an unknown or
// empty tier. Indexing with a string does not allocate.
func (p *policy) forTier(tier string) *limits {
	if l, ok := p.tiers[tier]; ok {
		return l
	}
	return p.base
}

// redisLimit maps a rate per second onto redis_rate's integer Rate per
// Period. GCRA only uses the emission interval Period/Rate, so a whole rate
// keeps the readable "N per second" and a fractional one becomes "1 per
// interval", exact to the nanosecond (0.5/s → 1 per 2s, 2.5/s → 1 per 400ms).
func redisLimit(r float64, burst int) redis_rate.Limit {
	if r >= 1 && r == math.Trunc(r) {
		return redis_rate.Limit{Rate: int(r), Burst: burst, Period: time.Second}
	}
	return redis_rate.Limit{Rate: 1, Burst: burst, Period: floatDuration(math.Round(float64(time.Second) / r))}
}
