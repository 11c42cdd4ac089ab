package bench

import (
	"math"
	"sync/atomic"
	"time"
)

// schedule is the open-loop arrival process: request n is due at
// start + n/rate, whatever happened to earlier requests. Workers take
// tickets in order, so when every connection is busy the due times fall
// behind the clock and the wait shows up in the latency, measured from the
// due time — the queueing a closed-loop tool leaves out (coordinated
// omission, as fixed by wrk2 and vegeta).
type schedule struct {
	start  time.Time
	period float64 // nanoseconds between arrivals
	next   atomic.Int64
}

func newSchedule(start time.Time, rate float64) *schedule {
	if rate <= 0 {
		panic("BUG: open-loop schedule needs a positive rate")
	}
	return &schedule{start: start, period: 1e9 / rate}
}

// take returns the next ticket and its due time.
func (s *schedule) take() (n int64, due time.Time) {
	n = s.next.Add(1) - 1
	return n, s.start.Add(s.offset(n))
}

func (s *schedule) offset(n int64) time.Duration {
	return time.Duration(float64(n) * s.period)
}

// firstAtOrAfter is the first ticket due at or after offset d.
func (s *schedule) firstAtOrAfter(d time.Duration) int64 {
	n := max(int64(math.Ceil(float64(d)/s.period)), 0)
	for n > 0 && s.offset(n-1) >= d {
		n--
	}
	for s.offset(n) < d {
		n++
	}
	return n
}

// count is the number of tickets due in [from, to) after start.
func (s *schedule) count(from, to time.Duration) int64 {
	if to <= from {
		return 0
	}
	return s.firstAtOrAfter(to) - s.firstAtOrAfter(from)
}
