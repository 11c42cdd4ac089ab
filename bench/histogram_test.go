package bench

import (
	"testing"
	"time"
)

func TestMergeInto(t *testing.T) {
	a, b, merged := newHistogram(), newHistogram(), newHistogram()
	for us := 1; us <= 1000; us++ {
		recordLatency(a, time.Duration(us)*time.Microsecond)
		recordLatency(b, time.Duration(us+1000)*time.Microsecond)
	}
	mergeInto(merged, a)
	mergeInto(merged, b)
	got := summarize(merged)
	f := func(name string, got, want int64) {
		t.Helper()
		// Three significant digits: within 0.1% of the exact value.
		if d := got - want; d < -want/1000-1 || d > want/1000+1 {
			t.Errorf("%s = %d, want %d ±0.1%%", name, got, want)
		}
	}
	f("count", got.Count, 2000)
	f("p50", got.P50, 1000)
	f("p90", got.P90, 1800)
	f("p99", got.P99, 1980)
	f("max", got.Max, 2000)
	if a.TotalCount() != 1000 || b.TotalCount() != 1000 {
		t.Errorf("merge changed its sources: %d, %d", a.TotalCount(), b.TotalCount())
	}
}

func TestRecordLatencyClamps(t *testing.T) {
	h := newHistogram()
	recordLatency(h, 0)
	recordLatency(h, 2*time.Minute)
	if got := h.Min(); got != histMinUS {
		t.Errorf("min = %d, want %d", got, histMinUS)
	}
	if got := h.Max(); got < histMaxUS*999/1000 {
		t.Errorf("max = %d, want ≈%d", got, histMaxUS)
	}
}

// The collector drains per-worker histograms each second; what it drains
// must add up exactly, and a drained worker must start empty.
func TestCollectorDrainMergesWorkers(t *testing.T) {
	workers := []*worker{{tally: newTally()}, {tally: newTally()}, {tally: newTally()}}
	now := time.Now()
	for i, w := range workers {
		for j := range 100 * (i + 1) {
			w.tally.record(true, now, now.Add(time.Duration(j+1)*time.Millisecond), 200, nil, nil)
		}
	}
	c := newCollector(workers, now, now, nil)
	completed, errs := c.drain()
	if completed != 600 || errs != 0 || c.cum.TotalCount() != 600 {
		t.Fatalf("drain: completed %d errors %d hist %d, want 600 0 600", completed, errs, c.cum.TotalCount())
	}
	if got := c.cum.Max(); got < 300_000 || got > 300_300 {
		t.Errorf("merged max = %dµs, want ≈300ms", got)
	}
	workers[0].tally.record(true, now, now.Add(time.Millisecond), 200, nil, nil)
	c.drain()
	if c.interval.TotalCount() != 1 || c.cum.TotalCount() != 601 {
		t.Errorf("second drain: interval %d cum %d, want 1 601", c.interval.TotalCount(), c.cum.TotalCount())
	}
}

// MergeResults merges the rounds' histograms: the merged percentiles are
// those of all requests together, which no average of percentiles gives.
func TestMergeResults(t *testing.T) {
	mk := func(lo, hi int64, status map[int]int64, xc map[string]int64) *Result {
		h := newHistogram()
		for v := lo; v <= hi; v++ {
			if err := h.RecordValue(v); err != nil {
				t.Fatal(err)
			}
		}
		n := hi - lo + 1
		return &Result{Mode: "open", Target: 100, Requests: n, Completed: n + 10, OK: n, Elapsed: 1,
			Status: status, Transport: map[string]int64{}, XCache: xc, Latency: summarize(h), hist: h,
			Schedule: &ScheduleStats{Backlogged: 1}}
	}
	fast := mk(1, 900, map[int]int64{}, map[string]int64{"HIT-L1": 900})
	slow := mk(10_001, 10_100, map[int]int64{429: 3}, map[string]int64{"HIT-L1": 90, "MISS": 10})
	slow.Errors = 3
	m := MergeResults("t", fast, slow)
	if m.Requests != 1000 || m.Completed != 1020 || m.Errors != 3 || m.Status[429] != 3 || m.XCache["HIT-L1"] != 990 || m.XCache["MISS"] != 10 {
		t.Errorf("counts: %+v", m)
	}
	if m.Rate != 500 || m.Elapsed != 2 || m.Schedule.Backlogged != 2 {
		t.Errorf("rate %v over %vs, backlogged %d", m.Rate, m.Elapsed, m.Schedule.Backlogged)
	}
	// 900 fast and 100 slow: the p90 is fast, the p95 slow. Neither run's
	// own p95 (855 and 10095) says so.
	if m.Latency.P90 > 900 || m.Latency.Max != slow.Latency.Max || m.Latency.Count != 1000 {
		t.Errorf("merged latency %+v", m.Latency)
	}
	if p95 := m.hist.ValueAtQuantile(95); p95 < 10_001 {
		t.Errorf("merged p95 %d, want one of the slow round's", p95)
	}
	if m.Percentiles[len(m.Percentiles)-1].Value != m.Latency.Max {
		t.Errorf("merged percentiles end at %+v, want the max", m.Percentiles[len(m.Percentiles)-1])
	}
}
