package cache

import (
	"bytes"
	"slices"
	"time"
)

// A flight is the coalesced work for one key: the L2 read, then the fill if
// L2 had nothing fresh. At most one flight per key runs at a time; every
// request that misses meanwhile waits for it instead of asking L2 or the
// origin again. The request that starts a flight waits for its L2 read
// itself (lead.go): an L2 hit, the common case, costs no goroutine. The
// fill, and the rest of the flight once that request leaves, run on a
// goroutine of their own, so no waiter holds them up or cancels them by
// leaving.
type flight struct {
	keyBytes  []byte // owned copy of Request.Key, becomes Entry.Key; its string view keys c.flights
	tags      []string
	fill      FillFunc
	refresh   bool // background refresh of a stale entry: a stale L2 entry does not end it
	gensKnown bool // the L2 read succeeded: lk.keyGen and lk.tagGens are the generations read before the fill
	finished  bool // under c.mu: the results below are set
	stored    bool // entry goes into L1 (retireBatch): a late joiner is served it as an L1 hit (see join)
	outcome   Outcome

	// barrier, set only on the markers Tiered.Wait sends through the retire
	// queue, is closed when every flight queued before is retired.
	barrier chan struct{}

	// seq fences the flight's results: it is taken before the L2 read, so
	// an invalidation applied after it makes them invalid (fence.go).
	seq uint64

	now     time.Time // the starting request's time
	started time.Time // wall clock, for TTLs and joinUntil
	timeout time.Duration

	// lk is the flight's L2 read, embedded to save an allocation.
	lk l2Lookup

	// base is the not-fresh entry the leading request found in L1 (or in a
	// flight it could not be served from, see join), or the stale entry a
	// background refresh is for. Set before the flight is shared and never
	// changed: the fill's revalidation base unless old is newer
	// (revalidationBase), and a stale-if-error candidate for every waiter.
	base *Entry

	// done, under c.mu, is made by the first request that must wait for
	// the flight and closed when it finishes: most flights (L2 hits) are
	// waited for by nobody but their leader, which needs no channel.
	done chan struct{}

	entry *Entry
	old   *Entry // a not-fresh L2 entry: a stale-if-error candidate, a revalidation base
	err   error
	l2d   time.Duration
	filld time.Duration
}

// elapsedNow is the flight's now advanced by the real time it has run, so
// that TTLs computed at its end do not count the fill's duration as life.
func (f *flight) elapsedNow() time.Time { return f.now.Add(time.Since(f.started)) }

// join returns the flight in progress for req's key, or registers a new one
// that the caller must lead (lead.go), with base (what L1 held, or nil) as
// its revalidation base. A flight overtaken by an invalidation, or stuck
// past joinUntil, is replaced rather than joined. For a joined flight, wait
// is closed when it finishes, or nil if it has.
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
		// A late joiner is served the stored entry as it is (fetchSlow), so
		// only an entry L1 would serve as it is. One that may be served only
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

// servedAsIs reports whether Fetch serves an L1 entry in state fr without
// a fill: fresh, or stale (while a background refresh runs).
func servedAsIs(fr Freshness) bool { return fr == Fresh || fr == Stale }

// joinUntil is when a stuck flight is no longer joined.
func (c *Tiered) joinUntil(f *flight) time.Time { return f.started.Add(c.cfg.L2Timeout + f.timeout) }

// waitLocked returns a channel closed when f finishes, or nil if it has.
func (f *flight) waitLocked() <-chan struct{} {
	if f.finished {
		return nil
	}
	if f.done == nil {
		f.done = make(chan struct{})
	}
	return f.done
}

// waitFor is waitLocked for a caller not holding c.mu.
func (c *Tiered) waitFor(f *flight) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return f.waitLocked()
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
	go c.run(f)
}

// newFlightLocked registers a flight for req's key; the caller runs it.
// wall is a wall clock reading just taken, the flight's start.
func (c *Tiered) newFlightLocked(req *Request, fill FillFunc, now, wall time.Time, refresh bool) *flight {
	timeout := req.FillTimeout
	if timeout <= 0 {
		timeout = c.cfg.FillTimeout
	}
	kb := bytes.Clone(req.Key)
	if kb == nil {
		kb = []byte{}
	}
	f := &flight{
		keyBytes: kb,
		tags:     slices.Clone(req.Tags),
		fill:     fill,
		refresh:  refresh,
		seq:      c.fence.next(),
		now:      now,
		started:  wall,
		timeout:  timeout,
	}
	f.lk.key, f.lk.tags = f.keyBytes, f.tags
	c.flights[bytesString(kb)] = f // kb is never modified
	return f
}

// run is a whole flight on its own goroutine (background refreshes).
func (c *Tiered) run(f *flight) {
	defer c.wg.Done()
	c.load(f)
	c.finish(f)
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
// for the whole batch (c.retires, batched like the L2 reads). A barrier
// (Wait) is answered once everything queued before it is visible.
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
