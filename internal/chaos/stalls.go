package chaos

import (
	"sync"
	"time"
)

// Stalls records when this process could not run: a goroutine sleeps for a
// millisecond again and again, and a wake-up that comes much later than
// asked for means that for that long no goroutine of the process was
// scheduled (the machine's cores were busy elsewhere, or a GC paused the
// world). The suite runs the gateway in the same process as its load
// generator, so such a stall delays answers through no fault of the
// gateway; a gateway that waits too long on a dependency does not stall
// the process, and is not excused by it.
type Stalls struct {
	threshold time.Duration
	stop      chan struct{}
	done      chan struct{}

	mu     sync.Mutex
	stalls []stall
}

type stall struct{ from, to time.Time }

// tick is how often the watcher asks to be woken.
const tick = time.Millisecond

// WatchStalls starts recording stalls longer than threshold; timer
// wake-ups are a fraction of a millisecond late even on an idle machine.
func WatchStalls(threshold time.Duration) *Stalls {
	s := &Stalls{threshold: threshold, stop: make(chan struct{}), done: make(chan struct{})}
	go s.run()
	return s
}

func (s *Stalls) run() {
	defer close(s.done)
	t := time.NewTimer(tick)
	defer t.Stop()
	for {
		asked := time.Now()
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			if late := now.Sub(asked) - tick; late > s.threshold {
				s.mu.Lock()
				s.stalls = append(s.stalls, stall{from: now.Add(-late), to: now})
				s.mu.Unlock()
			}
			t.Reset(tick)
		}
	}
}

// Within returns how long the process was stalled between from and to.
func (s *Stalls) Within(from, to time.Time) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var d time.Duration
	for _, st := range s.stalls {
		lo, hi := st.from, st.to
		if from.After(lo) {
			lo = from
		}
		if to.Before(hi) {
			hi = to
		}
		if hi.After(lo) {
			d += hi.Sub(lo)
		}
	}
	return d
}

// Total returns the stalled time since the watcher started and the longest
// single stall.
func (s *Stalls) Total() (sum, longest time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.stalls {
		d := st.to.Sub(st.from)
		sum += d
		longest = max(longest, d)
	}
	return sum, longest
}

// Close stops the watcher.
func (s *Stalls) Close() {
	close(s.stop)
	<-s.done
}
