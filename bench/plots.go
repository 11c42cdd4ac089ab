package bench

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// PercentilePlot draws latency against percentile as HdrHistogram's
// plotter does: the x axis is 1/(1−p) on a log scale, so 90%, 99%, 99.9%…
// are evenly spaced and the tail gets as much room as the median.
func PercentilePlot(title string, named map[string][]Percentile, order []string) string {
	decades := 3.0
	maxUS := 1.0
	for _, name := range order {
		pts := named[name]
		if len(pts) < 2 {
			continue
		}
		// The last point before 100% is the deepest percentile the count
		// resolves; the max is drawn one step past it.
		decades = math.Max(decades, math.Ceil(percentileX(pts[len(pts)-2].Percentile)))
		for _, p := range pts {
			maxUS = math.Max(maxUS, float64(p.Value))
		}
	}
	yMax := niceCeil(maxUS / 1000)
	c := chart{
		Title: title,
		X:     axis{Label: "percentile (log scale of 1/(1−p))", Min: 0, Max: decades},
		Y:     axis{Label: "latency (ms)", Min: 0, Max: yMax, Ticks: linearTicks(yMax, fmtMS)},
	}
	for d := 0.0; d <= decades; d++ {
		c.X.Ticks = append(c.X.Ticks, tick{At: d, Label: percentileLabel(d)})
	}
	for _, name := range order {
		pts := named[name]
		s := series{Name: name}
		for i, p := range pts {
			x := percentileX(p.Percentile)
			if p.Percentile >= 100 {
				x = decades
				if i > 0 {
					x = math.Min(decades, percentileX(pts[i-1].Percentile)+0.2)
				}
			}
			s.X, s.Y = append(s.X, x), append(s.Y, float64(p.Value)/1000)
		}
		c.Series = append(c.Series, s)
	}
	return svgDoc(c)
}

// percentileX is log10(1/(1−p)): 0 at 0%, 1 at 90%, 2 at 99%.
func percentileX(p float64) float64 {
	if p >= 100 {
		return math.Inf(1)
	}
	return -math.Log10(1 - p/100)
}

// percentileLabel names decade d: 0%, 90%, 99%, 99.9%, …
func percentileLabel(d float64) string {
	switch n := int(d); {
	case n <= 0:
		return "0%"
	case n == 1:
		return "90%"
	default:
		return "99" + strings.TrimSuffix("."+strings.Repeat("9", n-2), ".") + "%"
	}
}

// TimelinePlot draws p50 and p99 per second above the rate per second;
// the warm-up is shaded.
func TimelinePlot(title string, ticks []Tick) string {
	lat := chart{Title: title + ": latency per second", BandLabel: "warm-up"}
	rate := chart{Title: title + ": throughput per second", BandLabel: "warm-up"}
	p50 := series{Name: "p50"}
	p99 := series{Name: "p99"}
	rs := series{Name: "requests/s"}
	minAt, maxAt, maxUS, maxRate := 0.0, 1.0, 1.0, 1.0
	for _, t := range ticks {
		minAt, maxAt = math.Min(minAt, t.At), math.Max(maxAt, t.At)
		rs.X, rs.Y = append(rs.X, t.At), append(rs.Y, t.Rate)
		maxRate = math.Max(maxRate, t.Rate)
		if t.Warmup {
			continue
		}
		p50.X, p50.Y = append(p50.X, t.At), append(p50.Y, float64(t.P50)/1000)
		p99.X, p99.Y = append(p99.X, t.At), append(p99.Y, float64(t.P99)/1000)
		maxUS = math.Max(maxUS, float64(t.P99))
	}
	minAt, maxAt = math.Floor(minAt), math.Ceil(maxAt)
	xa := axis{Label: "seconds since the end of the warm-up", Min: minAt, Max: maxAt, Ticks: timeTicks(minAt, maxAt)}
	yLat := niceCeil(maxUS / 1000)
	yRate := niceCeil(maxRate)
	lat.X, lat.Y, lat.Series = xa, axis{Label: "latency (ms)", Max: yLat, Ticks: linearTicks(yLat, fmtMS)}, []series{p50, p99}
	rate.X, rate.Y, rate.Series = xa, axis{Label: "requests/s", Max: yRate, Ticks: linearTicks(yRate, fmtCount)}, []series{rs}
	if minAt < 0 {
		lat.Band0, lat.Band1, rate.Band0, rate.Band1 = minAt, 0, minAt, 0
	}
	return svgDoc(lat, rate)
}

func timeTicks(from, to float64) []tick {
	step := niceCeil((to - from) / 8)
	var out []tick
	for v := math.Ceil(from/step) * step; v <= to; v += step {
		label := v
		if label == 0 {
			label = 0 // not "-0"
		}
		out = append(out, tick{At: v, Label: strconv.FormatFloat(label, 'f', -1, 64)})
	}
	return out
}

func fmtMS(v float64) string { return strconv.FormatFloat(v, 'g', 3, 64) }

func fmtCount(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%gk", math.Round(v/100)/10)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}
