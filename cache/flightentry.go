package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// A flight's entry: taken from an L2 reply (fromL2) or made by the fill
// (prepare), then settled as the flight's result and stored in the tiers.

// fromL2 decodes an L2 reply and returns its entry if it is still valid:
// same key and tags, and generations unchanged since it was filled.
func (c *Tiered) fromL2(f *flight, lk *l2Lookup) *Entry {
	if lk.entry == nil {
		return nil
	}
	e, err := decode(lk.entry, f.tags, lk.tagGens)
	switch {
	case errors.Is(err, ErrUnknownFormat):
		c.st.unknownFormat.Add(1)
		return nil
	case err != nil:
		c.st.decodeErrors.Add(1)
		return nil
	}
	if !bytes.Equal(e.Key, f.keyBytes) || !slices.Equal(e.Tags, f.tags) ||
		e.keyGen != lk.keyGen || !slices.Equal(e.tagGens, lk.tagGens) {
		return nil
	}
	e.seq = f.seq
	return e
}

// prepare checks the entry a fill returned, given old, the entry it was
// offered to revalidate, and makes it f's: key, tags, sequence and the
// generations that fence it in L2.
func (c *Tiered) prepare(f *flight, e, old *Entry) error {
	switch {
	case e == nil:
		return fmt.Errorf("%w: fill returned no entry", ErrInvalidEntry)
	case e == old:
		// old is shared with its readers: preparing it for storage below
		// would write to an entry being served.
		return fmt.Errorf("%w: fill returned its old entry", ErrInvalidEntry)
	case e.Revalidated && old == nil:
		return fmt.Errorf("%w: fill revalidated without an old entry", ErrInvalidEntry)
	}
	if err := e.normalize(f.now); err != nil {
		return err
	}
	e.Key, e.Tags = f.keyBytes, f.tags
	e.seq = f.seq
	// The generations read with the L2 lookup, before the fill: what fences
	// this entry in L2. Zero when the lookup failed, but then the entry is
	// not written to L2.
	if f.gensKnown {
		e.keyGen, e.tagGens = f.lk.keyGen, f.lk.tagGens
	}
	return nil
}

// revalidationBase returns the entry f's fill may revalidate: the newer of
// what L1 (f.base) and L2 (f.old) held, among those no invalidation has
// overtaken since. Checked now, just before the fill, because an entry
// found valid before the flight's sequence was taken may have been
// invalidated in between; an invalidation applied later fences the fill's
// result instead.
func (c *Tiered) revalidationBase(f *flight) *Entry {
	var base *Entry
	for _, e := range [...]*Entry{f.base, f.old} {
		if e == nil || !c.fence.valid(e.seq, e.Key, e.Tags) {
			continue
		}
		switch e.Freshness(f.now) {
		case Stale, Expired, Kept:
			if base == nil || e.StoredAt.After(base.StoredAt) {
				base = e
			}
		}
	}
	return base
}

// callFill turns a panicking fill into an error: it runs on a background
// goroutine, where a panic would take the whole gateway down.
func callFill(ctx context.Context, fill FillFunc, key []byte, old *Entry) (e *Entry, err error) {
	if fill == nil {
		return nil, errors.New("cannot fill: the request has no MakeFill")
	}
	defer func() {
		if r := recover(); r != nil {
			e, err = nil, fmt.Errorf("cannot fill: panic: %v", r)
		}
	}()
	return fill(ctx, key, old)
}

// settle records e as the flight's result, to be stored in L1 when the
// flight is retired (promote) unless an invalidation overtook the flight.
// It reports whether e is to be stored.
func (c *Tiered) settle(f *flight, e *Entry, o Outcome) bool {
	f.entry, f.outcome = e, o
	if !c.fence.valid(f.seq, e.Key, e.Tags) {
		c.st.fenced.Add(1)
		return false
	}
	f.stored = c.ttl(f, e) > 0
	return true
}

// promote stores a settled flight's entry in L1 for what is left of its
// TTL. It runs when the flight is retired, so that the L1 writes of a batch
// of flights wake ristretto's worker once rather than once each. An
// invalidation applied since settle is no danger: the entry's seq predates
// its tombstone, so no read serves it.
func (c *Tiered) promote(f *flight) {
	if f.stored {
		// The lifetime is f.now + ran + ttl, on the requests' clock.
		e := f.entry
		c.l1.set(e, c.ttl(f, e), minTime(e.KeepUntil, f.now.Add(c.cfg.TombstoneTTL)))
	}
}

// ttl is how long e may stay in a tier (wall time): until its last window
// (the keep window) ends, and at most TombstoneTTL after the flight started
// (see fence.go): a kept entry is a revalidation base, and an invalidated
// one must not be that either.
func (c *Tiered) ttl(f *flight, e *Entry) time.Duration {
	ran := time.Since(f.started)
	return min(e.KeepUntil.Sub(f.now.Add(ran)), c.cfg.TombstoneTTL-ran)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// storeL2 queues the asynchronous L2 write: a miss never waits for Redis.
func (c *Tiered) storeL2(f *flight, e *Entry) {
	ttl := c.ttl(f, e)
	if ttl < time.Millisecond { // uncacheable, or below Redis' resolution
		return
	}
	c.l2.enqueueWrite(l2Write{key: c.l2.entryKey(e.Key), val: e.Append(make([]byte, 0, e.Size())), ttl: ttl})
}
