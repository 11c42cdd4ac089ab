package cache

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"
)

// Invalidation is one invalidation event as the cache sees it.
type Invalidation struct {
	// ID identifies the event across every process sharing L2. When set, the
	// L2 part is applied once per ID (per key and tag) for TombstoneTTL:
	// every replica applies every event, and replays after a restart are
	// normal, yet a generation is bumped once, not once per replica or
	// replay (each extra bump would turn valid L2 entries into misses).
	// Empty: bump unconditionally, for a caller with no event to name.
	ID string

	// Keys are full cache keys; Tags are surrogate keys. Invalidating a tag
	// costs O(1) however many entries carry it.
	Keys [][]byte
	Tags []string

	// Done, when set, is called once with the outcome of the L2 part, as
	// Invalidate would return it, also when that part outlived the call
	// (ErrL2Pending): then on a goroutine of the cache's, at the latest
	// InvalidateTimeout later. It must not block.
	Done func(n int, err error)
}

// Invalidate applies inv to this process's L1 and to L2: the cache's one
// way in for invalidation, whoever asks (an event, an admin request, a
// write through the gateway, a feature row).
//
// The local part is always applied: once Invalidate returns, this process
// never serves a value filled before the call, from either tier, even while
// the L2 part is still under way (pending.go). The L2 part (generation
// bumps, O(1) per key and tag, once per inv.ID: see Invalidation) makes
// other processes' L2 reads miss; their L1 copies go only when they apply
// the event themselves, so every replica must apply every event.
//
// The L2 part runs under Config.InvalidateTimeout, not ctx: ctx bounds only
// how long the call waits for it. When ctx ends first, the call returns
// ErrL2Pending and the L2 part goes on in the background.
//
// When it returns nil, the L2 part is in effect, whether this call or
// another process applied it: the "already applied" answer comes from the
// same atomic script that bumps, so the bump is never still pending. n is
// the number of keys and tags whose L2 part is in effect (0 when L2 is
// disabled). A non-nil error reports an L2 failure (or ErrL2Pending) only;
// retry the event to cover L2.
func (c *Tiered) Invalidate(ctx context.Context, inv Invalidation) (n int, err error) {
	if len(inv.Keys)+len(inv.Tags) == 0 {
		inv.done(0, nil)
		return 0, nil
	}
	c.st.invalidations.Add(uint64(len(inv.Keys) + len(inv.Tags)))
	now := c.clock(time.Now())
	if c.l2 == nil {
		c.fence.invalidate(now, inv.Keys, inv.Tags)
		c.dropL1(inv.Keys)
		inv.done(0, nil)
		return 0, nil
	}
	seq := c.fence.invalidatePending(now, inv.Keys, inv.Tags)
	c.dropL1(inv.Keys)
	if c.testHookInvalidate != nil {
		c.testHookInvalidate()
	}
	return c.invalidateL2(ctx, inv, seq)
}

func (inv *Invalidation) done(n int, err error) {
	if inv.Done != nil {
		inv.Done(n, err)
	}
}

func (c *Tiered) dropL1(keys [][]byte) {
	for _, k := range keys {
		// Not needed for correctness (the tombstone fences it), but frees
		// the memory now rather than at the entry's TTL.
		c.l1.del(k)
	}
}

// invalidateL2 runs the L2 part of inv, whose local part took sequence seq,
// on a goroutine of the cache's and waits for it until ctx ends. A write's
// invalidation must not be lost because the write used up its budget
// (RFC 9111 §4.4), so the bump keeps its own deadline; the pending marks
// keep this process from serving what it invalidated meanwhile.
func (c *Tiered) invalidateL2(ctx context.Context, inv Invalidation, seq uint64) (int, error) {
	// The caller's slices may be reused once it returns.
	keys := make([][]byte, len(inv.Keys))
	for i, k := range inv.Keys {
		keys[i] = bytes.Clone(k)
	}
	inv.Keys, inv.Tags = keys, slices.Clone(inv.Tags)
	type result struct {
		n   int
		err error
	}
	res := make(chan result, 1)
	err := c.goBump(func() {
		n, err := c.l2.invalidate(context.Background(), inv.ID, inv.Keys, inv.Tags)
		if err == nil {
			c.fence.confirm(c.clock(time.Now()), inv.Keys, inv.Tags, seq)
		}
		inv.done(n, err)
		res <- result{n, err}
	})
	if err != nil {
		// Not attempted: the marks stay until they expire, or until a
		// replay of the event (or a later invalidation) is confirmed.
		err = fmt.Errorf("cannot invalidate in l2: %w", err)
		inv.done(0, err)
		return 0, err
	}
	select {
	case r := <-res:
		return r.n, r.err
	case <-ctx.Done():
		c.st.l2Detached.Add(1)
		return 0, fmt.Errorf("cannot invalidate in l2 within the caller's deadline (%w): %w", ctx.Err(), ErrL2Pending)
	}
}

// goBump runs bump on a goroutine that Close waits for. Bumps in flight
// are bounded (L2QueueSize): past that, Redis is not keeping up, and one
// more would only wait in the client's pool.
func (c *Tiered) goBump(bump func()) error {
	select {
	case c.bumps <- struct{}{}:
	default:
		return fmt.Errorf("%w: too many invalidations in flight", ErrL2Unavailable)
	}
	if !c.goUnlessClosed(func() {
		defer func() { <-c.bumps }()
		bump()
	}) {
		<-c.bumps
		return ErrClosed
	}
	return nil
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
