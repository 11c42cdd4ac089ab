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
	return c.invalidate(ctx, keys, nil)
}

// InvalidateTags invalidates every entry carrying one of tags, in L1 and L2,
// at O(1) cost per tag; see InvalidateKeys for the guarantees. n is the
// number of tags invalidated in L2.
func (c *Tiered) InvalidateTags(ctx context.Context, tags ...string) (n int, err error) {
	if len(tags) == 0 {
		return 0, nil
	}
	c.st.invalidations.Add(uint64(len(tags)))
	return c.invalidate(ctx, nil, tags)
}

func (c *Tiered) invalidate(ctx context.Context, keys [][]byte, tags []string) (int, error) {
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
	n, err := c.l2.invalidate(ctx, keys, tags)
	// A flight that started between the local tombstones and the bumps may
	// have read the old generations, and so accepted an old L2 entry: fence
	// it too. The first tombstones stay, so the local effect is immediate.
	c.fence.invalidate(c.clock(time.Now()), keys, tags)
	return n, err
}
