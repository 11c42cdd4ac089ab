package cache

import (
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
