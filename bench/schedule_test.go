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
