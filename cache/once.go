package cache

import (
	"context"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Idempotent invalidation. Every replica applies every event, and replays
// the recent past after a restart, so the same event reaches L2 many times.
// Bumping a generation each time would be correct but would turn valid L2
// entries into misses once per replica and replay. Instead a marker,
// prefix + "ev:{" + generation key + "}:" + event id, is set with NX next to
// each generation, and the generation is bumped only by whoever set it, in one
// script: atomic, so "already applied" means "bump done", which keeps the
// fence sequence local tombstone -> L2 bump -> local tombstone race-free.
//
// Markers live TombstoneTTL, like generations: an event replayed later than
// that bumps again, which costs misses, never an old value.
//
// One marker per generation rather than per event keeps every script on one
// Redis Cluster slot: the marker's hash tag is the generation key itself.
const onceScript = `
if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1]) then
  return 0
end` + bumpLua

// queueBump queues the bump of genKey: once per id, or unconditionally when
// id is empty or no marker can share genKey's cluster slot. The command
// answers 1 (bumped) or 0 (already bumped for id).
func (l *l2) queueBump(ctx context.Context, p redis.Pipeliner, genKey, id, ttl string) *redis.Cmd {
	if marker, ok := l.markerKey(genKey, id); ok {
		return p.Eval(ctx, onceScript, []string{genKey, marker}, ttl)
	}
	return p.Eval(ctx, bumpScript, []string{genKey}, ttl)
}

// markerKey returns the idempotence marker of genKey for event id, in the
// same Redis Cluster slot as genKey. ok is false when id is empty, or when
// genKey holds braces but no hash tag: wrapping it in one would change its
// slot, so such (odd) names fall back to unconditional bumps.
func (l *l2) markerKey(genKey, id string) (string, bool) {
	switch {
	case id == "":
		return "", false
	case hashTag(genKey) != genKey:
		// genKey has its own hash tag; appending keeps it first.
		return genKey + ":ev:" + id, true
	case strings.ContainsAny(genKey, "{}"): // the prefix included
		return "", false
	}
	return l.prefix + "ev:{" + genKey + "}:" + id, true
}

// hashTag returns the part of key Redis Cluster hashes: the content of the
// first {...} when non-empty, else the whole key.
func hashTag(key string) string {
	open := strings.IndexByte(key, '{')
	if open < 0 {
		return key
	}
	end := strings.IndexByte(key[open+1:], '}')
	if end <= 0 {
		return key
	}
	return key[open+1 : open+1+end]
}

// deleteEntries frees the L2 entries of keys whose generation this process
// just bumped. Best effort, one more round trip only for the replica that
// applied an event first: the bump already fences them, and deleting on a
// replay would drop entries filled after the event, which are valid.
func (l *l2) deleteEntries(timeout time.Duration, keys [][]byte) {
	if len(keys) == 0 {
		return
	}
	_, err := l.exec(timeout, func(p redis.Pipeliner) {
		ctx := context.Background()
		for _, k := range keys {
			p.Del(ctx, l.entryKey(k))
		}
	})
	if err != nil {
		l.count(err)
	}
}
