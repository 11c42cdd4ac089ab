package invalidation

import (
	"sync/atomic"
	"time"
)

// Reasons an event read from Kafka was skipped, besides the parse reasons.
const (
	ReasonDuplicate   Reason = "duplicate"     // its id was applied already
	ReasonStale       Reason = "stale_version" // every target has a newer source_version applied
	ReasonApplyFailed Reason = "apply_failed"  // Apply failed ApplyAttempts times
)

// skipReasons fixes the counter slots of stats.skipped.
var skipReasons = [...]Reason{
	ReasonBadJSON, ReasonUnknownVersion, ReasonMissingField, ReasonBadField,
	ReasonUnknownField, ReasonTooLarge, ReasonDuplicate, ReasonStale, ReasonApplyFailed,
}

// Stats is a snapshot of a Consumer's counters (monotonic since
// NewConsumer) and gauges.
type Stats struct {
	Applied     map[Type]uint64   // events applied, by type
	Skipped     map[Reason]uint64 // events skipped, by reason
	ApplyErrors uint64            // failed Apply attempts (each retry counts)
	Replayed    uint64            // applied events published before this consumer started
	Gaps        uint64            // long disconnects (each called DropL1 once)

	// Lag is, per partition, how many messages the broker had beyond the
	// last one read, as of that read.
	Lag map[int]int64

	// Latency is event time (its ts, else the Kafka message time) to
	// applied, for events published after the consumer started.
	Latency Histogram

	Status Status
}

// Histogram is a fixed-bucket latency histogram snapshot, in the shape
// Prometheus exporters want: Counts[i] counts observations <= Bounds[i]
// and above Bounds[i-1]; the last count is above every bound.
type Histogram struct {
	Bounds []time.Duration
	Counts []uint64 // len(Bounds)+1
	Count  uint64
	Sum    time.Duration
}

// latencyBounds spans loopback (sub-millisecond) to a consumer that fell
// far behind.
var latencyBounds = []time.Duration{
	250 * time.Microsecond, 500 * time.Microsecond, time.Millisecond, 2 * time.Millisecond,
	5 * time.Millisecond, 10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond, time.Second,
	5 * time.Second, 30 * time.Second,
}

type histogram struct {
	counts [15]atomic.Uint64 // len(latencyBounds)+1
	sum    atomic.Int64
}

func (h *histogram) observe(d time.Duration) {
	d = max(d, 0) // producer clock ahead of ours
	i := 0
	for i < len(latencyBounds) && d > latencyBounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
}

func (h *histogram) snapshot() Histogram {
	out := Histogram{Bounds: latencyBounds, Counts: make([]uint64, len(h.counts)), Sum: time.Duration(h.sum.Load())}
	for i := range h.counts {
		out.Counts[i] = h.counts[i].Load()
		out.Count += out.Counts[i]
	}
	return out
}

// stats holds the live counters.
type stats struct {
	invalidates, upserts atomic.Uint64
	skipped              [len(skipReasons)]atomic.Uint64
	applyErrors          atomic.Uint64
	replayed             atomic.Uint64
	gaps                 atomic.Uint64
	latency              histogram
}

func (s *stats) skip(r Reason) {
	for i, known := range skipReasons {
		if known == r {
			s.skipped[i].Add(1)
			return
		}
	}
	panic("BUG: unknown skip reason " + string(r))
}

func (s *stats) snapshot() Stats {
	out := Stats{
		Applied:     map[Type]uint64{TypeInvalidate: s.invalidates.Load(), TypeUpsert: s.upserts.Load()},
		Skipped:     make(map[Reason]uint64, len(skipReasons)),
		ApplyErrors: s.applyErrors.Load(),
		Replayed:    s.replayed.Load(),
		Gaps:        s.gaps.Load(),
		Latency:     s.latency.snapshot(),
	}
	for i, r := range skipReasons {
		out.Skipped[r] = s.skipped[i].Load()
	}
	return out
}
