package cache

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Idempotent invalidation. Every replica applies every event, and replays
// the recent past after a restart, so the same event reaches L2 many times.
// Bumping a generation each time would be correct but would turn valid L2
// entries into misses once per replica and replay. Instead a marker (one
// per generation key and event id, markerKey) is set with NX next to each
// generation, and the generation is bumped only by whoever set it, in one
// script: atomic, so "already applied" means "bump done", which keeps the
// fence sequence local tombstone -> L2 bump -> local tombstone race-free.
//
// Markers live TombstoneTTL, like generations: an event replayed later than
// that bumps again, which costs misses, never an old value.
//
// One marker per generation rather than per event keeps every script on one
// Redis Cluster slot: the generation key's.
const onceScript = `
if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1]) then
  return 0
end` + bumpLua

// queueBump queues the bump of genKey: once per id, or unconditionally when
// id is empty. The command answers 1 (bumped) or 0 (already bumped for id).
func (l *l2) queueBump(ctx context.Context, p redis.Pipeliner, genKey, id, ttl string) *redis.Cmd {
	if id == "" {
		return p.Eval(ctx, bumpScript, []string{genKey}, ttl)
	}
	return p.Eval(ctx, onceScript, []string{genKey, l.markerKey(genKey, id)}, ttl)
}

// markerKey returns the idempotence marker of genKey for event id, in
// genKey's Redis Cluster slot whatever genKey holds (braces included: path
// tags are "{}path:/..."): its hash tag is a short one known to map to that
// slot. The prefix has no brace, or a hash tag of its own (Config.Validate),
// which then pins marker and generation to one slot alike. The id goes
// with its length, so that no two (genKey, id) pairs share a marker: a
// shared one would skip a bump.
func (l *l2) markerKey(genKey, id string) string {
	name := strings.TrimPrefix(genKey, l.prefix)
	return l.prefix + "ev:{" + slotTag(keySlot(genKey)) + "}:" +
		strconv.Itoa(len(id)) + ":" + id + ":" + name
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
