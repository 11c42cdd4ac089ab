package cache

import (
	"context"
	"sync"
	"time"
)

// timerPool reuses timers for waits that usually end before them: a Fetch
// waiting for another request's flight, or for its L2 read when its own
// deadline comes before the read's (an L2 read is otherwise bounded by the
// read queue's reaper, queue.go). Since Go 1.23 a stopped timer's channel
// holds no stale tick, so a pooled timer is safe to reset.
type timerPool struct{ p sync.Pool }

func (tp *timerPool) get(d time.Duration) *time.Timer {
	if t, ok := tp.p.Get().(*time.Timer); ok {
		t.Reset(d)
		return t
	}
	return time.NewTimer(d)
}

func (tp *timerPool) put(t *time.Timer) {
	t.Stop()
	tp.p.Put(t)
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
