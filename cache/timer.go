package cache

import (
	"sync"
	"time"
)

// timerPool reuses timers for waits that usually end before them: a Fetch
// waiting for its L2 read or its flight. Since Go 1.23 a stopped timer's
// channel holds no stale tick, so a pooled timer is safe to reset.
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
