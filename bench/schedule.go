package bench

import (
	"math"
	"sync/atomic"
	"time"
)

// schedule is the open-loop arrival process: request n is due at a fixed
// time after start (n/rate at a constant rate), whatever happened to
// earlier requests. Workers take tickets in order, so when every
// connection is busy the due times fall behind the clock and the wait
// shows up in the latency, measured from the due time — the queueing a
// closed-loop tool leaves out (coordinated omission, as fixed by wrk2 and
// vegeta).
//
// With a ramp the rate rises linearly from `from` to `rate` over `ramp`
// seconds, then stays: the number of tickets due by time t is
// N(t) = from·t + (rate−from)·t²/(2·ramp) during the ramp, and a ticket's
// due time is N's inverse.
type schedule struct {
	start      time.Time
	rate, from float64 // requests/s
	ramp       float64 // seconds; 0: constant rate
	next       atomic.Int64
}

func newSchedule(start time.Time, rate float64) *schedule {
	return newRampSchedule(start, rate, rate, 0)
}

func newRampSchedule(start time.Time, rate, from float64, over time.Duration) *schedule {
	if rate <= 0 || from < 0 {
		panic("BUG: open-loop schedule needs a positive rate")
	}
	s := &schedule{start: start, rate: rate, from: from, ramp: over.Seconds()}
	if over <= 0 {
		s.from, s.ramp = rate, 0
	}
	return s
}

// take returns the next ticket and its due time.
func (s *schedule) take() (n int64, due time.Time) {
	n = s.next.Add(1) - 1
	return n, s.start.Add(s.offset(n))
}

// rampTickets is N(ramp): the tickets due during the ramp.
func (s *schedule) rampTickets() float64 { return (s.from + s.rate) / 2 * s.ramp }

// offset is ticket n's due time after start.
func (s *schedule) offset(n int64) time.Duration {
	x := float64(n)
	if ramped := s.rampTickets(); x >= ramped {
		return seconds(s.ramp + (x-ramped)/s.rate)
	}
	// Solve a·t² + from·t − x = 0 for t ≥ 0.
	a := (s.rate - s.from) / (2 * s.ramp)
	if a == 0 {
		return seconds(x / s.from)
	}
	return seconds((-s.from + math.Sqrt(s.from*s.from+4*a*x)) / (2 * a))
}

// due is N(d), the (fractional) number of tickets due before offset d.
func (s *schedule) due(d time.Duration) float64 {
	t := d.Seconds()
	if t >= s.ramp {
		return s.rampTickets() + (t-s.ramp)*s.rate
	}
	return s.from*t + (s.rate-s.from)*t*t/(2*s.ramp)
}

func seconds(t float64) time.Duration { return time.Duration(t * 1e9) }

// firstAtOrAfter is the first ticket due at or after offset d.
func (s *schedule) firstAtOrAfter(d time.Duration) int64 {
	n := max(int64(math.Ceil(s.due(d))), 0)
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
