package cache

import (
	"bytes"
	"slices"
	"time"
)

// A flight is the coalesced work for one key: the L2 read, then the fill if
// L2 had nothing fresh. At most one flight per key runs at a time; every
// request that misses meanwhile waits for it instead of asking L2 or the
// origin again. The flight runs on its own goroutine, so no waiter, not even
// the one that started it, holds it up or cancels it by leaving.
type flight struct {
	key      string // map key
	keyBytes []byte // owned copy of Request.Key, becomes Entry.Key
	tags     []string
	fill     FillFunc
	refresh  bool // background refresh of a stale entry: a stale L2 entry does not end it

	// seq fences the flight's results: it is taken before the L2 read, so
	// an invalidation applied after it makes them invalid (fence.go).
	seq uint64

	// keyGen and tagGens are the L2 generations read before the fill.
	keyGen  uint64
	tagGens []uint64

	now      time.Time // the starting request's time
	started  time.Time // wall clock, for TTLs and the deadline
	deadline time.Time // after it, a stuck flight is no longer joined
	timeout  time.Duration

	done chan struct{} // closed when the fields below are set

	entry   *Entry
	outcome Outcome
	stored  bool   // entry went into L1: a late joiner is served as an L1 hit
	old     *Entry // an expired L2 entry, served if the fill fails
	err     error
	l2d     time.Duration
	filld   time.Duration
}

// elapsedNow is the flight's now advanced by the real time it has run, so
// that TTLs computed at its end do not count the fill's duration as life.
func (f *flight) elapsedNow() time.Time { return f.now.Add(time.Since(f.started)) }

// join returns the flight in progress for req's key, or starts one. A
// flight overtaken by an invalidation, or stuck past its deadline, is
// replaced rather than joined.
func (c *Tiered) join(req *Request, fill FillFunc, now time.Time) (f *flight, joined bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, false, ErrClosed
	}
	if f := c.flights[string(req.Key)]; f != nil && c.fence.valid(f.seq, req.Key, req.Tags) && time.Now().Before(f.deadline) {
		return f, true, nil
	}
	return c.startLocked(req, fill, now, false), false, nil
}

// startRefresh starts a background refresh of req's key unless a flight for
// it is already running: one refresh per key, not one per request.
func (c *Tiered) startRefresh(req *Request, fill FillFunc, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.flights[string(req.Key)] != nil {
		return
	}
	c.st.refreshes.Add(1)
	c.startLocked(req, fill, now, true)
}

func (c *Tiered) startLocked(req *Request, fill FillFunc, now time.Time, refresh bool) *flight {
	timeout := req.FillTimeout
	if timeout <= 0 {
		timeout = c.cfg.FillTimeout
	}
	kb := bytes.Clone(req.Key)
	if kb == nil {
		kb = []byte{}
	}
	started := time.Now()
	f := &flight{
		key:      string(kb),
		keyBytes: kb,
		tags:     slices.Clone(req.Tags),
		fill:     fill,
		refresh:  refresh,
		seq:      c.fence.next(),
		now:      now,
		started:  started,
		deadline: started.Add(c.cfg.L2Timeout + timeout),
		timeout:  timeout,
		done:     make(chan struct{}),
	}
	c.flights[f.key] = f
	c.wg.Add(1)
	go c.run(f)
	return f
}

func (c *Tiered) run(f *flight) {
	defer c.wg.Done()
	c.load(f)
	close(f.done)
	// Keep the finished flight joinable until its L1 write is visible, so a
	// request arriving meanwhile neither misses L1 nor starts a second fill.
	c.l1.wait()
	c.mu.Lock()
	if c.flights[f.key] == f {
		delete(c.flights, f.key)
	}
	c.mu.Unlock()
	if f.outcome == OutcomeStale && !f.refresh {
		// L2 had only a stale entry: it was served, now refresh it once.
		req := Request{Key: f.keyBytes, Tags: f.tags, FillTimeout: f.timeout}
		c.startRefresh(&req, f.fill, f.elapsedNow())
	}
}
