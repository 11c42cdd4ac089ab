package batch

import (
	"slices"
	"testing"
)

// While a batch is being handled, items queue; the next batch takes them
// all, up to Max, and the rest come in the batch after.
func TestLoopBatchesWhatQueuedMeanwhile(t *testing.T) {
	got := make(chan []int, 10)
	release := make(chan struct{})
	l := Start(Config{Queue: 16, Max: 3}, func(b []int) {
		got <- slices.Clone(b)
		<-release
	})
	defer l.Close()
	l.Put(0)
	if b := <-got; !slices.Equal(b, []int{0}) {
		t.Fatalf("first batch %v, want [0]: a lone item goes out at once", b)
	}
	for i := 1; i <= 5; i++ { // queued while [0] is being handled
		if !l.Offer(i) {
			t.Fatalf("Offer(%d) refused with room in the queue", i)
		}
	}
	release <- struct{}{}
	f := func(want ...int) {
		t.Helper()
		if b := <-got; !slices.Equal(b, want) {
			t.Fatalf("batch %v, want %v", b, want)
		}
		release <- struct{}{}
	}
	f(1, 2, 3)
	f(4, 5)
}

// Offer never blocks: with the queue full it drops the item.
func TestLoopOfferDropsWhenFull(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 2)
	l := Start(Config{Queue: 1, Max: 1}, func([]int) {
		started <- struct{}{}
		<-release
	})
	defer l.Close()
	l.Put(1)
	<-started // the loop holds 1; the queue is empty
	if !l.Offer(2) {
		t.Fatal("Offer refused with room in the queue")
	}
	if l.Offer(3) {
		t.Fatal("Offer queued past the queue's size")
	}
	close(release)
}

// Close finishes the batch being handled, then returns; Put after it
// reports false instead of blocking.
func TestLoopClose(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	finished := false
	l := Start(Config{Queue: 1, Max: 1}, func([]int) {
		close(started)
		<-release
		finished = true
	})
	l.Put(1)
	<-started
	close(release)
	l.Close()
	if !finished {
		t.Fatal("Close returned before the batch being handled finished")
	}
	select {
	case <-l.Stopped():
	default:
		t.Fatal("Stopped not closed after Close")
	}
	if l.Put(2) {
		t.Fatal("Put after Close reported queued")
	}
	l.Close() // twice is fine
}

// The batch handed over keeps no references once handled.
func TestLoopClearsBatch(t *testing.T) {
	seen := make(chan []*int, 1)
	var kept []*int
	l := Start(Config{Queue: 1, Max: 1}, func(b []*int) {
		kept = b[:cap(b)]
		seen <- kept
	})
	v := 1
	l.Put(&v)
	<-seen
	l.Close()
	if kept[0] != nil {
		t.Fatal("the handled batch still references its items")
	}
}
