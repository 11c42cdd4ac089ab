package cache

import (
	"bytes"
	"slices"
	"time"
)

// A flight is the coalesced work for one key; its life is told in
// flight.go. The results (entry to filld) are set by whoever runs it,
// before finish, and read by its waiters after.
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

// makeFill gives f the fill req makes, if f has none: only the goroutine
// that leads f, and only before f is finished or handed off, sets f.fill.
func (c *Tiered) makeFill(f *flight, req *Request) {
	if f.fill == nil && req.MakeFill != nil {
		f.fill = req.MakeFill()
	}
}

// goFlight finishes f with work on a goroutine of the cache's, or at once
// with ErrClosed when the cache is closing (then it reports true).
func (c *Tiered) goFlight(f *flight, work func(*flight)) (finished bool) {
	if c.goUnlessClosed(func() {
		work(f)
		c.finish(f)
	}) {
		return false
	}
	f.err = ErrClosed
	c.finish(f)
	return true
}
