package bench

import (
	"math"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in microseconds from 1 µs to 60 s with three
// significant digits: a 0.1% error bound is far below run-to-run noise, and
// 60 s covers any timeout a load test sensibly uses. Longer values are
// clamped to the maximum rather than dropped, so a hung request still shows
// up in the max and the tail percentiles.
const (
	histMinUS   = 1
	histMaxUS   = 60_000_000
	histSigFigs = 3
)

func newHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(histMinUS, histMaxUS, histSigFigs)
}

// recordLatency adds d to h, clamped into the histogram's range.
func recordLatency(h *hdrhistogram.Histogram, d time.Duration) {
	us := min(max(d.Microseconds(), histMinUS), histMaxUS)
	if err := h.RecordValue(us); err != nil {
		panic("BUG: clamped latency out of histogram range: " + err.Error())
	}
}

// mergeInto adds every value of from into dst. Both share one geometry, so
// nothing can be dropped; a drop would mean a histogram built elsewhere.
func mergeInto(dst, from *hdrhistogram.Histogram) {
	if dropped := dst.Merge(from); dropped != 0 {
		panic("BUG: histogram merge dropped values: geometries differ")
	}
}

// Latency is a latency distribution summary, in microseconds.
type Latency struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean_us"`
	P50   int64   `json:"p50_us"`
	P90   int64   `json:"p90_us"`
	P99   int64   `json:"p99_us"`
	P999  int64   `json:"p999_us"`
	Max   int64   `json:"max_us"`
}

func summarize(h *hdrhistogram.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	return Latency{
		Count: h.TotalCount(),
		Mean:  h.Mean(),
		P50:   h.ValueAtQuantile(50),
		P90:   h.ValueAtQuantile(90),
		P99:   h.ValueAtQuantile(99),
		P999:  h.ValueAtQuantile(99.9),
		Max:   h.Max(),
	}
}

// Percentile is one point of a latency distribution.
type Percentile struct {
	Percentile float64 `json:"p"`
	Value      int64   `json:"us"`
}

// percentileTicksPerHalf is the number of points between 0% and 50%, 50%
// and 75%, 75% and 87.5%…: HdrHistogram's own percentile output steps so,
// giving evenly spaced points on its log-scaled "1/(1-p)" axis.
const percentileTicksPerHalf = 5

// percentiles is h's percentile distribution, from 0% up to the last
// percentile its count can resolve, then 100% (the max).
func percentiles(h *hdrhistogram.Histogram) []Percentile {
	n := h.TotalCount()
	if n == 0 {
		return nil
	}
	var out []Percentile
	for i := 0; ; i++ {
		tail := math.Pow(0.5, float64(i)/percentileTicksPerHalf)
		if tail*float64(n) < 1 {
			break
		}
		p := 100 * (1 - tail)
		out = append(out, Percentile{Percentile: p, Value: h.ValueAtQuantile(p)})
	}
	return append(out, Percentile{Percentile: 100, Value: h.Max()})
}
