package cache

import (
	"context"
	"time"
)

// InvalidateKeys invalidates keys in this process's L1 and in L2. The local
// part is always applied: once InvalidateKeys returns, this process never
// serves a value filled before the call, from either tier. The L2 part
// (generation bumps, O(1) per key) makes other processes' L2 reads miss;
// their L1 copies go only when they apply the event themselves, so every
// replica must apply every event.
//
// n is the number of keys invalidated in L2 (0 when L2 is disabled). A
// non-nil error reports an L2 failure only; retry the event to cover L2.
func (c *Tiered) InvalidateKeys(ctx context.Context, keys ...[]byte) (n int, err error) {
	if len(keys) == 0 {
		return 0, nil
	}
	c.st.invalidations.Add(uint64(len(keys)))
	return c.invalidate(ctx, "", keys, nil)
}

// InvalidateTags invalidates every entry carrying one of tags, in L1 and L2,
// at O(1) cost per tag; see InvalidateKeys for the guarantees. n is the
// number of tags invalidated in L2.
func (c *Tiered) InvalidateTags(ctx context.Context, tags ...string) (n int, err error) {
	if len(tags) == 0 {
		return 0, nil
	}
	c.st.invalidations.Add(uint64(len(tags)))
	return c.invalidate(ctx, "", nil, tags)
}

func (c *Tiered) invalidate(ctx context.Context, id string, keys [][]byte, tags []string) (int, error) {
	c.fence.invalidate(c.clock(time.Now()), keys, tags)
	for _, k := range keys {
		// Not needed for correctness (the tombstone fences it), but frees
		// the memory now rather than at the entry's TTL.
		c.l1.del(k)
	}
	if c.l2 == nil {
		return 0, nil
	}
	if c.testHookInvalidate != nil {
		c.testHookInvalidate()
	}
	n, err := c.l2.invalidate(ctx, id, keys, tags)
	// A flight that started between the local tombstones and the bumps may
	// have read the old generations, and so accepted an old L2 entry: fence
	// it too. The first tombstones stay, so the local effect is immediate.
	c.fence.invalidate(c.clock(time.Now()), keys, tags)
	return n, err
}

// Invalidation is one invalidation event as the cache sees it.
type Invalidation struct {
	// ID identifies the event across every process sharing L2. When set, the
	// L2 part is applied once per ID (per key and tag) for TombstoneTTL:
	// every replica applies every event, and replays after a restart are
	// normal, yet a generation is bumped once, not once per replica or
	// replay (each extra bump would turn valid L2 entries into misses).
	// Empty: bump unconditionally, like InvalidateKeys and InvalidateTags.
	ID   string
	Keys [][]byte
	Tags []string
}

// Invalidate applies inv to this process's L1 (always) and to L2 (once per
// inv.ID, see Invalidation), with the guarantees of InvalidateKeys. When it
// returns nil, the L2 part is in effect, whether this call or another
// process applied it: the "already applied" answer comes from the same
// atomic script that bumps, so the bump is never still pending. n is the
// number of keys and tags whose L2 part is in effect.
func (c *Tiered) Invalidate(ctx context.Context, inv Invalidation) (n int, err error) {
	if len(inv.Keys)+len(inv.Tags) == 0 {
		return 0, nil
	}
	c.st.invalidations.Add(uint64(len(inv.Keys) + len(inv.Tags)))
	return c.invalidate(ctx, inv.ID, inv.Keys, inv.Tags)
}

// DropL1 makes every entry now in this process's L1 invalid, and every fill
// or L2 read in flight unstorable, as if each key and tag had been
// invalidated; L2 is untouched. The invalidation consumer calls it after a
// long disconnect from Kafka: events missed meanwhile may concern any entry.
//
// It raises the fence floor (fence.go) rather than relying on clearing
// ristretto: the floor is atomic with respect to hits and fills, while
// Clear is not (a Set racing with it can survive). Clear only frees the
// memory early; the hit path stays lock-free and allocation-free.
func (c *Tiered) DropL1() {
	if c.done.Load() {
		return
	}
	c.fence.dropAll()
	c.st.l1Drops.Add(1)
	c.l1.clear()
}
