package ratelimit

import (
	"math"
	"time"

	"golang.org/x/time/rate"
)

// Decision is the answer for one request, with what the gateway needs for
// the RateLimit-* and Retry-After headers.
type Decision struct {
	Allowed    bool
	Limit      int           // bucket size (burst): RateLimit-Limit
	Remaining  int           // whole tokens left: RateLimit-Remaining
	Reset      time.Duration // until the bucket is full again: RateLimit-Reset
	RetryAfter time.Duration // when denied, until one token is available; round up for Retry-After
	Fallback   bool          // a cluster policy answered locally because Redis was unavailable
}

// Handle limits one route. Its buckets are per route and key: two routes
// with the same policy do not share a budget.
type Handle struct {
	l          *Limiter
	policyName string
	policy     *policy
	store      *store
	// cluster is set when the policy asks for it and the Limiter has Redis.
	cluster bool
	// redisPrefix is "tiercel:rl:<route>:", so a cluster call builds its
	// Redis key with one concatenation.
	redisPrefix string
}

func newHandle(l *Limiter, route, policyName string, p *policy) *Handle {
	return &Handle{
		l:           l,
		policyName:  policyName,
		policy:      p,
		store:       newStore(l.cfg.MaxKeys, l.cfg.IdleTTL),
		cluster:     p.cluster && l.rdb != nil,
		redisPrefix: "tiercel:rl:" + route + ":",
	}
}

// KeyKind is what the gateway must pass as key: KeySubject, KeyTenant or KeyIP.
func (h *Handle) KeyKind() string { return h.policy.key }

// Allow takes one token from key's local bucket at time now. It does not
// allocate once the key has a bucket; key is copied only when a bucket is
// created, so it may be a request's reused buffer.
func (h *Handle) Allow(now time.Time, key []byte, tier string) Decision {
	l := h.policy.forTier(tier)
	sh := h.store.shard(key)
	ns := now.UnixNano()
	e := sh.get(key)
	if e == nil {
		e = sh.insert(key, l, ns, h.store.idleTTL)
	} else {
		e.lastSeen.Store(ns)
	}
	if e.limits.Load() != l {
		sh.retier(e, l, now)
	}
	ok := e.bucket.AllowN(now, 1)
	// Read separately from AllowN, so under concurrency on one key Remaining
	// may be off by the requests in between; headers are advisory anyway.
	tokens := e.bucket.TokensAt(now)
	if ok {
		sh.allowed.Add(1)
	} else {
		sh.rejected.Add(1)
	}
	return decide(ok, tokens, l)
}

func decide(ok bool, tokens float64, l *limits) Decision {
	d := Decision{
		Allowed:   ok,
		Limit:     l.burst,
		Remaining: min(max(int(math.Floor(tokens)), 0), l.burst),
		Reset:     durationFor(float64(l.burst)-tokens, l.rate),
	}
	if !ok {
		d.RetryAfter = durationFor(1-tokens, l.rate)
	}
	return d
}

// durationFor is how long r takes to produce tokens, rounded up so that a
// client waiting exactly that long finds them there.
func durationFor(tokens float64, r rate.Limit) time.Duration {
	if tokens <= 0 {
		return 0
	}
	return floatDuration(math.Ceil(tokens / float64(r) * float64(time.Second)))
}

// floatDuration converts nanoseconds, saturating: converting an out of
// range float to an integer is implementation-defined in Go, and a tiny
// rate with a large burst can take centuries.
func floatDuration(ns float64) time.Duration {
	if ns >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(ns)
}
