package cache

import (
	"context"
	"fmt"
	"time"
)

// maxFenced bounds how often one Fetch waits for a new fill after the one
// it waited for was overtaken by an invalidation.
const maxFenced = 3

// Fetch answers req from the first tier that can: fresh L1, fresh L2 (one
// coalesced round trip), then fill (coalesced: one FillFunc call per key in
// the process at a time). A stale entry is served at once while one
// background refresh runs; an expired entry still inside its error window
// is served if the fill fails or ctx ends first; a kept entry is never
// served, only passed to the fill as old. Fetch returns no later than ctx's
// deadline or req.Deadline; Redis trouble never fails it.
//
// The fill comes from req.MakeFill, called only if one is needed. On an L1
// hit Fetch allocates nothing, provided MakeFill itself is not allocated
// per call: a closure literal that captures request data is allocated by
// the caller before Fetch runs. Hot callers either keep a long-lived
// MakeFill or call Get first and Fetch only on a miss.
func (c *Tiered) Fetch(ctx context.Context, req Request) (Result, error) {
	start := time.Now()
	if c.done.Load() {
		c.st.errors.Add(1)
		return Result{}, ErrClosed
	}
	now := req.Now
	if now.IsZero() {
		now = c.clock(start)
	}
	var e *Entry
	fr := Gone
	if !req.L1Missed {
		e, fr = c.lookupL1(req.Key, now)
	}
	switch fr {
	case Fresh:
		c.st.l1Hits.Add(1)
		return Result{Entry: e, Outcome: OutcomeHitL1, L1: time.Since(start)}, nil
	case Stale:
		c.st.staleServed.Add(1)
		var fill FillFunc
		if req.MakeFill != nil {
			fill = req.MakeFill()
		}
		c.startRefresh(&req, fill, now, e)
		return Result{Entry: e, Outcome: OutcomeStale, L1: time.Since(start)}, nil
	}
	// e is nil, expired (kept for stale-if-error) or kept (only a base for
	// the fill to revalidate).
	return c.fetchSlow(ctx, &req, now, e, start)
}

// fetchSlow is Fetch after L1; old is what L1 held for the key (not fresh),
// start the wall clock when Fetch started.
func (c *Tiered) fetchSlow(ctx context.Context, req *Request, now time.Time, old *Entry, start time.Time) (Result, error) {
	wall := time.Now()
	res := Result{L1: wall.Sub(start)}
	var fill FillFunc // made by a round that led a flight
	for round := range maxFenced {
		if round > 0 {
			wall = time.Now()
		}
		f, joined, wait, err := c.join(req, fill, now, wall, old)
		if err != nil {
			c.st.errors.Add(1)
			return res, err
		}
		late := false
		switch {
		case !joined:
			if !c.lead(ctx, f, req) {
				wait = c.waitFor(f)
			}
			// A later round leads a new flight, and the fill made for this
			// one (if any) serves it too.
			fill = f.fill
		case wait == nil:
			// A flight that finished before this request joined it (it
			// stays joinable until its L1 write is visible) did no work for
			// this request: its stored entry is an L1 hit, not a coalesced
			// miss.
			late = f.err == nil && f.stored
		default:
			c.st.coalescedWaits.Add(1)
			res.Coalesced = true
		}
		if wait != nil {
			if err := c.wait(ctx, req.Deadline, wait); err != nil {
				return c.fallback(res, now, err, old, f.base)
			}
		}
		res.L2, res.Fill = f.l2d, f.filld
		if f.err != nil {
			return c.fallback(res, now, f.err, old, f.base, f.old)
		}
		if !c.fence.valid(f.seq, f.entry.Key, f.entry.Tags) {
			// An invalidation was applied while this request waited: the
			// result predates it and must not be served. Wait for a new one.
			continue
		}
		res.Entry, res.Outcome = f.entry, f.outcome
		if late {
			res.Outcome, res.L2, res.Fill = OutcomeHitL1, 0, 0
		}
		c.count(res.Outcome)
		return res, nil
	}
	c.st.errors.Add(1)
	return res, fmt.Errorf("cannot fetch: %w", ErrFenced)
}

// wait blocks until done is closed, ctx ends or deadline (zero: none)
// passes.
func (c *Tiered) wait(ctx context.Context, deadline time.Time, done <-chan struct{}) error {
	select {
	case <-done:
		return nil
	default:
	}
	var tick <-chan time.Time
	if !deadline.IsZero() {
		t := c.timers.get(time.Until(deadline))
		defer c.timers.put(t)
		tick = t.C
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-tick:
		return context.DeadlineExceeded
	}
}

// fallback serves the first candidate still inside its error window and not
// invalidated, or returns err. A kept candidate is past its error window:
// the origin never allowed serving it on error (RFC 9111 §4.2.4 needs that
// allowance, here stale-if-error).
func (c *Tiered) fallback(res Result, now time.Time, err error, candidates ...*Entry) (Result, error) {
	for _, e := range candidates {
		if e != nil && e.Freshness(now).Servable() && c.fence.valid(e.seq, e.Key, e.Tags) {
			res.Entry, res.Outcome = e, OutcomeStaleError
			c.count(OutcomeStaleError)
			return res, nil
		}
	}
	c.st.errors.Add(1)
	return res, fmt.Errorf("cannot fetch: %w", err)
}

func (c *Tiered) count(o Outcome) {
	switch o {
	case OutcomeHitL1:
		c.st.l1Hits.Add(1)
	case OutcomeHitL2:
		c.st.l2Hits.Add(1)
	case OutcomeMiss:
		c.st.misses.Add(1)
	case OutcomeRevalidated:
		c.st.revalidated.Add(1)
	case OutcomeStale:
		c.st.staleServed.Add(1)
	case OutcomeStaleError:
		c.st.staleErrorServed.Add(1)
	}
}
