package bench

import (
	"testing"
	"time"
)

func TestScheduleCount(t *testing.T) {
	f := func(rate float64, from, to time.Duration, want int64) {
		t.Helper()
		s := newSchedule(time.Now(), rate)
		if got := s.count(from, to); got != want {
			t.Errorf("rate %v count(%v, %v) = %d, want %d", rate, from, to, got, want)
		}
	}
	f(1000, 0, time.Second, 1000)
	f(1000, 500*time.Millisecond, 1500*time.Millisecond, 1000)
	f(3, 0, time.Second, 3)
	f(3, time.Second, 2*time.Second, 3)
	f(20000, time.Second, 6*time.Second, 100000)
	f(0.5, 0, 3*time.Second, 2)
	f(1000, time.Second, time.Second, 0)
}

func TestScheduleTakeIsOrdered(t *testing.T) {
	start := time.Now()
	s := newSchedule(start, 4)
	for want := range int64(5) {
		n, due := s.take()
		if n != want || due.Sub(start) != time.Duration(want)*250*time.Millisecond {
			t.Fatalf("take = %d at %v, want %d at %v", n, due.Sub(start), want, time.Duration(want)*250*time.Millisecond)
		}
	}
}

// A ramp from 0 to 1000/s over 2 s is due 1000 tickets during the ramp
// (the area under the rate), a quarter of them in its first second, and
// 1000/s after it.
func TestRampSchedule(t *testing.T) {
	s := newRampSchedule(time.Now(), 1000, 0, 2*time.Second)
	f := func(from, to time.Duration, want int64) {
		t.Helper()
		if got := s.count(from, to); got < want-1 || got > want+1 {
			t.Errorf("count(%v, %v) = %d, want %d±1", from, to, got, want)
		}
	}
	f(0, time.Second, 250)
	f(time.Second, 2*time.Second, 750)
	f(0, 2*time.Second, 1000)
	f(2*time.Second, 5*time.Second, 3000)
	prev := time.Duration(-1)
	for n := range int64(3000) {
		if d := s.offset(n); d <= prev {
			t.Fatalf("offset(%d) = %v after %v: due times must rise", n, d, prev)
		} else {
			prev = d
		}
	}
	// Ramping down works the same way.
	down := newRampSchedule(time.Now(), 100, 300, time.Second)
	if got := down.count(0, time.Second); got != 200 {
		t.Errorf("300→100 over 1s: %d tickets, want 200", got)
	}
}
