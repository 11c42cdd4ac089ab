// Package invalidation keeps caches fresh: the versioned event schema
// (invalidate by key, tag, entity or model; upsert feature values), the
// Kafka consumer that applies every event on every replica, and a producer
// other Go services can import.
//
// It must never stall on a bad message (it is logged with its offset,
// counted by reason and skipped), never import the gateway, the features
// package or HTTP server code (the gateway implements Applier), and never
// know Prometheus (Stats is plain counters and a fixed-bucket histogram).
//
// # The event
//
// One JSON object per Kafka message on topic tiercel.invalidations, keyed
// by the entity or tag it concerns (Event.RoutingKey), described by
// schema/event.v1.json and parsed strictly by Parse. See Event.
//
// # Who applies what: every replica, everything
//
// Every replica must drop its own L1 copies, so every replica reads every
// partition with one plain partition reader each (no consumer group, which
// would give each replica a share only), and discovers new partitions
// periodically. The question is who applies the L2 part (generation bumps in
// Redis). The alternative, one shared consumer group with committed offsets
// applying L2 while replicas apply only L1, needs a second reader per
// replica, a leader role, and still loses the fence ordering the cache
// relies on: a replica must bump L2 between its two local tombstones
// (cache.Tiered.Invalidate), or a fill that read L2 in between could keep an
// old value. So every replica applies every event to L1 and L2, and the L2
// part is idempotent per event id inside the cache: one Lua script sets a
// marker with NX and bumps only if it set it. Ten replicas bump a tag once;
// a replica told "already applied" knows the bump is done, because the
// marker and the bump are one atomic script.
//
// Nothing is committed: a starting replica replays from now minus
// Config.Replay (default 1h, the cache's TombstoneTTL, which caps every
// entry's lifetime), found with Kafka's offsets-for-times (ListOffsets by
// timestamp, which kfake implements). So even when every replica was down,
// every event that could concern a live entry is applied after the restart,
// and replays of applied events cost a Redis round trip each, not misses.
//
// # Disconnects
//
// kafka-go readers reconnect by themselves and resume from their offsets,
// so a broker restart loses nothing. While the broker is unreachable,
// events cannot be seen: after MaxGap (default 30s) without contact the
// consumer calls Applier.DropL1 once (the replica forgets its L1 and
// serves from L2 and origins), and Ready reports the gap until the broker
// answers again. Contact is any fetched message or a partition listing,
// which runs every DiscoverInterval and doubles as the probe.
//
// # Ordering and repeats
//
// Events of one entity or tag share a partition (the message key), which
// orders them. source_version, when set, additionally makes a replica ignore
// an event for the targets on which it already applied a higher version.
// Event ids are remembered (bounded) so that a repeat is applied once; both
// memories are per replica and bounded, and forgetting only costs an
// idempotent re-apply.
package invalidation
