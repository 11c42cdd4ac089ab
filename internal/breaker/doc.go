// Package breaker is the one circuit breaker every dependency of Tiercel is
// called through (the cache's Redis, the rate limiter's Redis, each
// upstream target, each feature view's and model's server): after
// Config.Failures consecutive failed calls it opens, and for
// Config.Cooldown every call is refused at once, without touching the
// network; then one probe call is let through (half-open), whose success
// closes it.
//
// It wraps github.com/sony/gobreaker and adds what every owner needs: one
// Config with documented defaults and its validation, a lock-free check
// of "open" for hot paths, and the rule that a call whose caller left
// (context.Canceled) is neither a success nor a failure. It knows nothing
// of what it guards: which errors are failures is the owner's (for Redis,
// redisconn.Failure), and it must never log, count or export anything
// itself: owners do, through OnStateChange and State.
package breaker
