package cache

import (
	"context"
	"fmt"
	"time"
)

// The life of a flight, top to bottom. A flight is the coalesced work for
// one key that L1 could not answer: the L2 read, then the fill if L2 had
// nothing fresh. At most one flight per key runs at a time; every request
// that misses meanwhile waits for it instead of asking L2 or the origin
// again.
//
//  1. Lookup (Fetch): L1 answers a fresh entry, and a stale one while a
//     background refresh (startRefresh), one per key, renews it.
//  2. Lead or join (miss, join): the first request to miss registers a
//     flight and leads it; later ones wait for it, each no longer than its
//     own context and Request.Deadline (wait), and serve an entry inside
//     its stale-if-error window (fallback) when the flight fails or their
//     time ends first.
//  3. L2 (lead): the leader hands the flight's read to the L2 batcher
//     (batch.go) and waits for the reply itself, up to its own deadline:
//     an L2 hit, the common case, ends the flight on the request's
//     goroutine and costs no goroutine of its own.
//  4. Fill (fillStage): after an L2 miss, on a goroutine of the flight's,
//     under the flight's own timeout (Request.FillTimeout), never a
//     request's: the fill serves later requests too, so no waiter holds it
//     up or cancels it by leaving.
//  5. Store (settle; storeL2 and promote, flightentry.go): the entry is
//     queued for L2 at once and goes into L1 when the flight retires,
//     unless an invalidation overtook the flight (the fence, fence.go).
//  6. Wake waiters (finish): the flight is queued for retiring, then its
//     waiters are released.
//  7. Retire (retireBatch, one internal/batch loop): the L1 writes of a
//     batch of flights are made visible with one ristretto Wait, then the
//     flights leave c.flights; until then a request arriving for the key
//     joins the finished flight instead of missing L1 again.
//
// Every result passes the fence once more before it is served: one that an
// invalidation overtook while the request waited is not served, and the
// request waits for a new flight instead (at most maxFenced times).

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
	return c.miss(ctx, &req, now, e, start)
}

// miss is Fetch after L1: lead or join the key's flight, wait for it, and
// serve its result if no invalidation overtook it. old is what L1 held for
// the key (not fresh), start the wall clock when Fetch started.
func (c *Tiered) miss(ctx context.Context, req *Request, now time.Time, old *Entry, start time.Time) (Result, error) {
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

// join returns the flight in progress for req's key, or registers a new one
// that the caller must lead, with base (what L1 held, or nil) as its
// revalidation base and fill (nil: req.MakeFill's, made by lead) as its
// fill. A flight overtaken by an invalidation, or stuck past joinUntil, is
// replaced rather than joined. For a joined flight, wait is closed when it
// finishes, or nil if it has.
func (c *Tiered) join(req *Request, fill FillFunc, now, wall time.Time, base *Entry) (f *flight, joined bool, wait <-chan struct{}, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, false, nil, ErrClosed
	}
	if f := c.flights[string(req.Key)]; f != nil && c.fence.valid(f.seq, req.Key, req.Tags) && wall.Before(c.joinUntil(f)) {
		if !f.finished || !f.stored || f.err != nil || servedAsIs(f.entry.Freshness(now)) {
			return f, true, f.waitLocked(), nil
		}
		// A late joiner is served the stored entry as it is (miss), so only
		// an entry L1 would serve as it is. One that may be served only
		// when a fill fails, or never (kept: a no-cache response is stored
		// so), is treated as Fetch treats it in L1: lead a flight of one's
		// own, with it as the base.
		if base == nil || f.entry.StoredAt.After(base.StoredAt) {
			base = f.entry
		}
	}
	nf := c.newFlightLocked(req, fill, now, wall, false)
	nf.base = base
	return nf, false, nil, nil
}

// lead runs f, a flight the caller has just registered for req, until it
// is finished or handed to a goroutine; it returns no later than ctx ends
// or req.Deadline passes, and reports whether f is finished. The request
// waits for the L2 read on its own goroutine: most flights end there (an
// L2 hit), and a goroutine per L2 hit cost more than the read itself. Only
// what must outlive the request runs on a goroutine of the flight's: the
// fill, and the rest of the L2 read when the request's time ends first.
func (c *Tiered) lead(ctx context.Context, f *flight, req *Request) (finished bool) {
	if c.l2 == nil {
		c.makeFill(f, req)
		return c.goFlight(f, c.fillStage)
	}
	sent := f.started // just taken: f is new
	err := c.l2.submit(&f.lk, sent)
	if err == nil {
		err = c.l2.await(&f.lk, ctx.Done(), req.Deadline)
	}
	if err == errLeft {
		c.makeFill(f, req) // req is the caller's: make the fill while it is here
		return c.goFlight(f, func(f *flight) {
			if !c.useL2(f, c.l2.await(&f.lk, nil, time.Time{}), sent) {
				c.fillStage(f)
			}
		})
	}
	if c.useL2(f, err, sent) {
		if f.outcome == OutcomeStale {
			c.makeFill(f, req) // for the refresh that retire starts
		}
		c.finish(f)
		return true
	}
	c.makeFill(f, req)
	return c.goFlight(f, c.fillStage)
}

// startRefresh starts a background refresh of req's key unless a flight for
// it is already running: one refresh per key, not one per request. stale is
// the entry served meanwhile, the refresh's revalidation base.
func (c *Tiered) startRefresh(req *Request, fill FillFunc, now time.Time, stale *Entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.flights[string(req.Key)] != nil {
		return
	}
	c.st.refreshes.Add(1)
	f := c.newFlightLocked(req, fill, now, time.Now(), true)
	f.base = stale
	c.wg.Add(1)
	go c.refresh(f)
}

// refresh is a background refresh's whole flight, on its own goroutine:
// nobody waits for its L2 read.
func (c *Tiered) refresh(f *flight) {
	defer c.wg.Done()
	if c.l2 == nil {
		c.fillStage(f)
	} else if t := time.Now(); !c.useL2(f, c.l2.lookup(&f.lk, t), t) {
		c.fillStage(f)
	}
	c.finish(f)
}

// useL2 takes the result of f's L2 read, sent at sent, and reports whether
// it answered the flight (then f's results are set).
func (c *Tiered) useL2(f *flight, err error, sent time.Time) bool {
	f.l2d = time.Since(sent)
	if err != nil {
		return false
	}
	if c.l2Pending(f.keyBytes, f.tags) {
		// The entry and the generations just read may predate an
		// invalidation applied here whose bump is not confirmed (pending.go):
		// neither serve it nor write the fill to L2 under those generations.
		if f.lk.entry != nil {
			c.st.l2PendingMiss.Add(1)
		}
		return false
	}
	f.gensKnown = true
	e := c.fromL2(f, &f.lk)
	if e == nil {
		return false
	}
	switch e.Freshness(f.now) {
	case Fresh:
		c.settle(f, e, OutcomeHitL2)
		return true
	case Stale:
		if !f.refresh {
			c.settle(f, e, OutcomeStale)
			return true
		}
		f.old = e
	case Expired, Kept:
		// Never served as it is: a stale-if-error candidate (fallback
		// serves only an Expired one) and a revalidation base.
		f.old = e
	}
	return false
}

// fillStage is the flight's work after L2: the fill, under the flight's own
// deadline, stored in both tiers.
func (c *Tiered) fillStage(f *flight) {
	c.st.fills.Add(1)
	ctx, cancel := context.WithTimeout(c.ctx, f.timeout)
	old := c.revalidationBase(f)
	t := time.Now()
	e, err := callFill(ctx, f.fill, f.keyBytes, old)
	f.filld = time.Since(t)
	cancel()
	if err == nil {
		err = c.prepare(f, e, old)
	}
	if err != nil {
		c.st.fillErrors.Add(1)
		f.err = err
		return
	}
	o := OutcomeMiss
	if e.Revalidated {
		o = OutcomeRevalidated
	}
	stored := c.settle(f, e, o)
	switch {
	case c.l2 == nil:
	case !stored || !f.gensKnown:
		// A locally fenced fill is not worth writing; and without the
		// generations read before the fill, an L2 copy could not be fenced.
		c.st.l2WriteDrops.Add(1)
	default:
		c.storeL2(f, e)
	}
}

// finish publishes f's results to its waiters and retires it.
func (c *Tiered) finish(f *flight) {
	// Keep the finished flight joinable until its L1 write is made and
	// visible, so a request arriving meanwhile neither misses L1 nor starts
	// a second fill. One ristretto Wait covers every flight queued meanwhile
	// (retireBatch). Queued before the waiters are released, so that a Wait
	// called by one of them covers this flight's L1 write.
	if !c.retires.Offer(f) {
		// Queue full: retire it at once. A request arriving before the L1
		// write is visible then reads L2 again, which costs a round trip.
		c.promote(f)
		c.retire(f)
	}
	c.mu.Lock()
	f.finished = true
	done := f.done
	c.mu.Unlock()
	if done != nil {
		close(done)
	}
}

// retireBatch stores finished flights' entries in L1 and removes the
// flights from c.flights once those writes are visible: one ristretto Wait
// for the whole batch (c.retires). A barrier (Wait) is answered once
// everything queued before it is visible.
func (c *Tiered) retireBatch(batch []*flight) {
	for _, f := range batch {
		if f.barrier == nil {
			c.promote(f)
		}
	}
	c.l1.wait()
	for _, f := range batch {
		if f.barrier != nil {
			close(f.barrier)
		} else {
			c.retire(f)
		}
	}
}

func (c *Tiered) retire(f *flight) {
	c.mu.Lock()
	if k := bytesString(f.keyBytes); c.flights[k] == f {
		delete(c.flights, k)
	}
	c.mu.Unlock()
	if f.outcome == OutcomeStale && !f.refresh {
		// L2 had only a stale entry: it was served, now refresh it once.
		req := Request{Key: f.keyBytes, Tags: f.tags, FillTimeout: f.timeout}
		c.startRefresh(&req, f.fill, f.elapsedNow(), f.entry)
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
