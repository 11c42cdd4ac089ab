package cache

import (
	"context"
	"time"
)

// Leading a flight. The request that starts a flight waits for its L2 read
// on its own goroutine: most flights end there (an L2 hit), and a goroutine
// per L2 hit cost more than the read itself. Only what must outlive the
// request runs on a goroutine of the flight's: the fill, and the rest of
// the L2 read when the request's context ends first.

// lead runs f, a flight the caller has just registered for req, until it
// is finished or handed to a goroutine; it returns no later than ctx ends
// or req.Deadline passes, and reports whether f is finished.
func (c *Tiered) lead(ctx context.Context, f *flight, req *Request) (finished bool) {
	if c.l2 == nil {
		c.makeFill(f, req)
		return c.goFlight(f, c.fillStage)
	}
	t := f.started // just taken: f is new
	err := c.l2.submit(&f.lk, t)
	if err == nil {
		err = c.l2.await(&f.lk, ctx.Done(), req.Deadline)
	}
	if err == errLeft {
		c.makeFill(f, req) // req is the caller's: make the fill while it is here
		return c.goFlight(f, func(f *flight) {
			err := c.l2.await(&f.lk, nil, time.Time{})
			f.l2d = time.Since(t)
			if !c.useL2(f, err) {
				c.fillStage(f)
			}
		})
	}
	f.l2d = time.Since(t)
	if c.useL2(f, err) {
		if f.outcome == OutcomeStale {
			c.makeFill(f, req) // for the refresh that retire starts
		}
		c.finish(f)
		return true
	}
	c.makeFill(f, req)
	return c.goFlight(f, c.fillStage)
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
