// Package redisconn builds the one Redis client a gateway shares (cache,
// rate limiter, feature store, last-good predictions, invalidation) from
// its config, for a single node, a Redis Cluster or a Sentinel-managed
// primary, and keeps it honest:
//
//   - Options is the only parser of the config: `tiercel validate` and
//     `tiercel serve` refuse the same forms with the same message.
//   - Check refuses, at start, a single-node client pointed at a node that
//     has cluster_enabled:1 (and a cluster client pointed at one that has
//     not): such a gateway would start, say ready and fail every other call.
//   - A hook sees every command's error: replies are counted by kind
//     (Kind), logged rate-limited, and the ones that say the cluster is
//     moving (MOVED, CLUSTERDOWN, a refused connection...) make a cluster
//     client reload its slot map at once instead of within 10 s.
//   - Failure (and PipelineFailure) is how every breaker reads an error: a
//     missing key or a data error (WRONGTYPE) proves Redis is there; a
//     transport error, a timeout or a reply saying the shard cannot serve
//     (CROSSSLOT, MOVED not followed, CLUSTERDOWN, READONLY, LOADING, ...)
//     does not; a caller's own cancellation is left for the breaker to
//     exclude.
//
// It imports nothing of Tiercel's but internal/defaults, so cache, features
// and the gateway's packages can all use it.
package redisconn
