package cache

import (
	"context"
	"sync"
	"time"
)

// The L2 read queue, and how a read never outlives its deadline without a
// timer per read. A request waiting for its L2 read blocks on the lookup's
// done channel alone (a select over a pooled timer, a stop channel and done
// cost more than the read's share of the round trip). Every submitted
// lookup, queued or in the batch being read, is answered by whichever comes
// first: the batcher, with Redis' reply, or the reaper, one timer for the
// whole queue, with a timeout. Lookups all live l.timeout from submission,
// so deadlines follow queue order: a timer armed at the oldest pending
// deadline covers them all. A push arms it only when it is not armed (or
// armed for later), and the reaper re-arms itself for what is still pending when it fires; under
// load it fires about once per L2Timeout, finding nothing late, instead of
// one timer being set per read.
//
// This does not rely on the Redis client honouring context deadlines: a
// batcher stuck in a hung call only delays its own claims, which then lose.

// lookupState is an l2Lookup's answer state: only the goroutine that moves
// it from pending to answered writes the reply fields and sends done its
// token.
const (
	lookupPending uint32 = iota
	lookupAnswered
)

// claim reports whether the caller may answer lk (and must send done its
// token).
func (lk *l2Lookup) claim() bool { return lk.state.CompareAndSwap(lookupPending, lookupAnswered) }

// answer settles lk with err unless it was answered already.
func (lk *l2Lookup) answer(err error) {
	if lk.claim() {
		lk.err = err
		lk.done <- struct{}{}
	}
}

// donePool recycles the capacity-1 channels of l2Lookup.done.
type donePool struct{ p sync.Pool }

func (dp *donePool) get() chan struct{} {
	if ch, ok := dp.p.Get().(chan struct{}); ok {
		return ch
	}
	return make(chan struct{}, 1)
}

// put takes back an empty channel.
func (dp *donePool) put(ch chan struct{}) { dp.p.Put(ch) }

// readQueue holds the lookups submitted and not yet answered, for the
// batcher and the reaper.
type readQueue struct {
	mu       sync.Mutex
	pending  []*l2Lookup // submitted, not yet taken by the batcher
	inflight []*l2Lookup // the batch being read; answered lookups may stay
	max      int         // bound of pending
	idle     bool        // the batcher waits on wake
	closed   bool
	wake     chan struct{} // capacity 1
	reaper   *time.Timer
	reapAt   time.Time // when reaper fires; zero: not armed
}

func newReadQueue(max int) *readQueue {
	q := &readQueue{max: max, wake: make(chan struct{}, 1), pending: make([]*l2Lookup, 0, min(max, 256))}
	q.reaper = time.AfterFunc(time.Hour, q.reap)
	q.reaper.Stop()
	return q
}

// push queues lk; errL2Skipped when the queue is full, ErrClosed after close.
func (q *readQueue) push(lk *l2Lookup) error {
	q.mu.Lock()
	switch {
	case q.closed:
		q.mu.Unlock()
		return ErrClosed
	case len(q.pending) >= q.max:
		q.mu.Unlock()
		return errL2Skipped
	}
	q.pending = append(q.pending, lk)
	q.armLocked(lk.deadline)
	wake := q.idle
	q.idle = false
	q.mu.Unlock()
	if wake {
		select {
		case q.wake <- struct{}{}:
		default: // a wake-up is pending already
		}
	}
	return nil
}

// wait blocks the batcher until a lookup is pending; false once stop is
// closed.
func (q *readQueue) wait(stop <-chan struct{}) bool {
	for {
		q.mu.Lock()
		if len(q.pending) > 0 {
			q.mu.Unlock()
			return true
		}
		q.idle = true
		q.mu.Unlock()
		select {
		case <-q.wake:
		case <-stop:
			return false
		}
	}
}

// take moves up to max pending lookups into batch, the new batch in
// flight.
func (q *readQueue) take(batch []*l2Lookup, max int) []*l2Lookup {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := min(len(q.pending), max)
	batch = append(batch[:0], q.pending[:n]...)
	rest := copy(q.pending, q.pending[n:])
	clear(q.pending[rest:])
	q.pending = q.pending[:rest]
	q.inflight = batch
	return batch
}

// landed ends the batch in flight.
func (q *readQueue) landed() {
	q.mu.Lock()
	q.inflight = nil
	q.mu.Unlock()
}

func (q *readQueue) armLocked(at time.Time) {
	if q.closed || (!q.reapAt.IsZero() && !at.Before(q.reapAt)) {
		return
	}
	q.reapAt = at
	q.reaper.Reset(time.Until(at))
}

// reap answers every pending lookup past its deadline with a timeout, and
// re-arms for the oldest one left.
func (q *readQueue) reap() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.reapAt = time.Time{}
	now := time.Now()
	var next time.Time
	for _, list := range [2][]*l2Lookup{q.inflight, q.pending} {
		for _, lk := range list {
			if lk.state.Load() != lookupPending {
				continue
			}
			if now.Before(lk.deadline) {
				if next.IsZero() || lk.deadline.Before(next) {
					next = lk.deadline
				}
				continue
			}
			lk.answer(context.DeadlineExceeded)
		}
	}
	if !next.IsZero() {
		q.armLocked(next)
	}
}

// close answers everything pending with ErrClosed and refuses new lookups.
func (q *readQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.reaper.Stop()
	for _, lk := range q.inflight {
		lk.answer(ErrClosed)
	}
	for _, lk := range q.pending {
		lk.answer(ErrClosed)
	}
	clear(q.pending)
	q.pending = q.pending[:0]
}
