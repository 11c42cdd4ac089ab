// Package ratelimit limits requests per route and per principal key (subject,
// tenant or client IP), optionally cluster-wide through Redis.
//
// It knows nothing of HTTP: the gateway picks the key a Handle asks for
// (Handle.KeyKind), passes the principal's plan as the tier and turns the
// Decision into RateLimit-* and Retry-After headers.
//
// Local limits are token buckets (golang.org/x/time/rate) kept in sharded
// maps; a check on a known key does not allocate. Cluster policies use GCRA in
// Redis (github.com/go-redis/redis_rate) and fall back to the local bucket.
//
// What it must never do:
//   - fail closed, or hang, because Redis is slow or down: every Redis call is
//     bounded by the caller's deadline and Config.RedisTimeout, a circuit
//     breaker stops calling a dead Redis, and the answer then comes from the
//     local bucket (Decision.Fallback);
//   - grow without bound: idle keys are evicted after Config.IdleTTL and each
//     route holds at most Config.MaxKeys keys, so a flood of new client IPs
//     evicts old buckets instead of exhausting memory.
package ratelimit
