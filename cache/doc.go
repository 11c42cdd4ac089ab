// Package cache is Tiercel's two-tier cache: an in-process L1 (ristretto,
// sized in bytes) in front of a shared L2 (Redis), with per-key coalesced
// fills, stale-while-revalidate and stale-if-error windows, keep windows
// (expired entries kept as the base of a revalidation), surrogate-key
// (tag) and key invalidation, and version fencing so that a fill that
// started before an invalidation is never served after it.
//
// It serves API responses, feature values and model predictions alike: an
// Entry's Value is opaque bytes, and one binary codec (codec.go) encodes
// entries for both tiers.
//
// The cache must never:
//   - import net/http, fasthttp, Kafka or anything else that knows where
//     keys, values or invalidation events come from: the gateway builds keys
//     and values, and turns each event (from the invalidation consumer or
//     its admin endpoint) into one Tiered.Invalidate call, the cache's only
//     way in for invalidation; after a long Kafka disconnect it calls
//     Tiered.DropL1;
//   - block a request on Redis past L2Timeout, or fail a request because
//     Redis is slow or down (a circuit breaker makes it L1-only instead);
//   - allocate on an L1 hit;
//   - serve an entry under another key (the full key is compared on every
//     L1 hit) or, after an invalidation has been applied, an entry filled
//     before it (nor hand such an entry to a fill to revalidate);
//   - serve a kept entry (past its stale-if-error window): it is only ever
//     the old entry a fill may revalidate;
//   - keep a caller's byte slices or context past the call: keys and tags
//     are copied, and fills run under the cache's own context.
package cache
