// Package batch is natural batching: one goroutine that blocks for one
// queued item, then takes whatever else is queued (up to a bound) without
// waiting, and hands the batch to a func. No fixed delay: a lone item goes
// out at once, and under load batches grow by themselves while the
// previous one is being handled. The cache's L2 writes and retired
// flights and the last-good predictions' Redis writes use it.
//
// It must never import anything of Tiercel's, nor wait for an item that
// is not queued yet.
package batch

import (
	"runtime"
	"sync"
)

// Config sizes a Loop.
type Config struct {
	// Queue is how many items may wait for the loop; Offer drops an item
	// when they are all taken. At least 1.
	Queue int

	// Max is the largest batch handed over at once. At least 1.
	Max int

	// Yield lets the goroutines already runnable run before the loop
	// drains the queue. The send that woke the loop made it run next,
	// before those goroutines could queue their items: with few cores,
	// without yielding, most batches would hold one item.
	Yield bool
}

// Loop hands queued items, in batches, to one goroutine of its own.
type Loop[T any] struct {
	in   chan T
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

// Start starts a loop calling handle with each batch. handle runs on the
// loop's goroutine only, one batch at a time; the slice is reused (and
// cleared after handle returns, so that it keeps nothing alive): handle
// must not keep it.
func Start[T any](cfg Config, handle func(batch []T)) *Loop[T] {
	l := &Loop[T]{in: make(chan T, max(cfg.Queue, 1)), stop: make(chan struct{})}
	l.wg.Add(1)
	go l.run(max(cfg.Max, 1), cfg.Yield, handle)
	return l
}

func (l *Loop[T]) run(n int, yield bool, handle func([]T)) {
	defer l.wg.Done()
	batch := make([]T, 0, n)
	for {
		select {
		case v := <-l.in:
			batch = append(batch[:0], v)
		case <-l.stop:
			return
		}
		if yield {
			runtime.Gosched()
		}
	drain:
		for len(batch) < n {
			select {
			case v := <-l.in:
				batch = append(batch, v)
			default:
				break drain
			}
		}
		handle(batch)
		clear(batch)
	}
}

// Offer queues v unless the queue is full; it never blocks. An item
// queued while the loop stops may never be handled.
func (l *Loop[T]) Offer(v T) bool {
	select {
	case l.in <- v:
		return true
	default:
		return false
	}
}

// Put queues v, waiting for room; false when the loop is stopped first.
func (l *Loop[T]) Put(v T) bool {
	select {
	case <-l.stop:
		return false
	default:
	}
	select {
	case l.in <- v:
		return true
	case <-l.stop:
		return false
	}
}

// Stopped is closed once Close has been called.
func (l *Loop[T]) Stopped() <-chan struct{} { return l.stop }

// Close stops the loop and waits for its goroutine: a batch being handled
// is finished, items still queued are dropped. Safe to call more than once.
func (l *Loop[T]) Close() {
	l.once.Do(func() { close(l.stop) })
	l.wg.Wait()
}
