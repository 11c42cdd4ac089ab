package bench

import (
	"maps"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Result is what one load run measured. Only requests due (open loop) or
// sent (closed loop) after the warm-up count.
type Result struct {
	Name   string  `json:"name,omitempty"`
	URL    string  `json:"url"`
	Method string  `json:"method"`
	Mode   string  `json:"mode"`        // "open" (constant rate) or "closed"
	Target float64 `json:"target_rate"` // requests/s asked for; 0 in closed loop
	Conns  int     `json:"conns"`
	Keys   int     `json:"keys,omitempty"`
	Dist   Dist    `json:"dist,omitempty"`

	Duration float64 `json:"duration_s"` // the measured part as configured
	// Elapsed runs from the end of the warm-up to the last measured
	// answer; Rate is Requests/Elapsed.
	Elapsed  float64 `json:"elapsed_s"`
	Requests int64   `json:"requests"`
	// Completed counts every finished request, warm-up included: the
	// denominator of server CPU time per request.
	Completed int64   `json:"completed"`
	Rate      float64 `json:"rate"`
	OK        int64   `json:"ok"` // 2xx answers
	Errors    int64   `json:"errors"`
	// Status counts non-2xx answers by status; each one is also an error.
	Status map[int]int64 `json:"errors_by_status"`
	// Transport counts requests without an answer, by kind.
	Transport map[string]int64 `json:"transport_errors"`
	// XCache counts the X-Cache header of 2xx answers; "" is no header.
	XCache map[string]int64 `json:"x_cache"`
	// Missed counts open-loop requests due during the measured part that
	// could not even be started before its end: the generator (conns or
	// CPU) could not keep up, so the offered rate was not the target.
	Missed int64 `json:"missed"`
	// Schedule says how the open-loop schedule was kept.
	Schedule    *ScheduleStats `json:"schedule,omitempty"`
	Interrupted bool           `json:"interrupted,omitempty"`
	Latency     Latency        `json:"latency"`
	// Percentiles is the latency distribution, for percentile plots.
	Percentiles []Percentile `json:"percentiles"`
	Timeline    []Tick       `json:"timeline"`

	// hist is the latency histogram itself, kept for MergeResults.
	hist *hdrhistogram.Histogram
}

// HitRatio is the share of 2xx answers with an X-Cache header whose value
// starts with "HIT": errors are neither hits nor misses, and answers
// without the header (feature lookups in a mix) are not cache lookups.
func (res *Result) HitRatio() float64 {
	lookups := res.OK - res.XCache[""]
	if lookups <= 0 {
		return 0
	}
	var hits int64
	for k, v := range res.XCache {
		if len(k) >= 3 && k[:3] == "HIT" {
			hits += v
		}
	}
	return float64(hits) / float64(lookups)
}

func (r *run) result(col *collector, cut time.Time) *Result {
	total := counts{status: map[int]int64{}, transport: map[string]int64{}, xcache: map[string]*int64{}}
	var sent, completed int64
	var late ScheduleStats
	last := r.measureFrom
	for _, w := range col.workers {
		total.merge(&w.tally.c)
		sent += w.tally.sent
		completed += w.tally.completed
		late.merge(w.tally.late)
		if w.tally.lastDone.After(last) {
			last = w.tally.lastDone
		}
	}
	res := &Result{
		Name: r.cfg.Name, URL: r.cfg.URL, Method: r.cfg.Method, Mode: "closed", Conns: r.cfg.Conns,
		Keys: r.cfg.Keys, Duration: r.cfg.Duration.Seconds(),
		Elapsed: last.Sub(r.measureFrom).Seconds(), Requests: total.requests, Completed: completed,
		OK: total.ok, Errors: total.errors(), Status: total.status,
		Transport: total.transport, XCache: map[string]int64{},
		Interrupted: cut.Before(r.end), Latency: summarize(col.cum), Percentiles: percentiles(col.cum), Timeline: col.timeline,
		hist: col.cum,
	}
	if r.cfg.Keys > 0 {
		res.Dist = r.cfg.Dist
	}
	for k, v := range total.xcache {
		res.XCache[k] = *v
	}
	if res.Elapsed > 0 {
		res.Rate = float64(res.Requests) / res.Elapsed
	}
	if r.sched != nil {
		res.Mode, res.Target = "open", r.cfg.Rate
		due := r.sched.count(r.measureFrom.Sub(r.start), cut.Sub(r.start))
		res.Missed = max(due-sent, 0)
		res.Schedule = &late
	}
	return res
}

// MergeResults combines runs of one load (rounds of a comparison) into one
// result: counts add up, the rate is all requests over all measured time,
// and the latency histograms merge, so percentiles are those of every
// request of every round — not an average of percentiles, which has no
// meaning. The timeline is the first run's.
func MergeResults(name string, runs ...*Result) *Result {
	if len(runs) == 0 {
		return nil
	}
	first := runs[0]
	m := &Result{
		Name: name, URL: first.URL, Method: first.Method, Mode: first.Mode, Target: first.Target,
		Conns: first.Conns, Keys: first.Keys, Dist: first.Dist, Timeline: first.Timeline,
		Status: map[int]int64{}, Transport: map[string]int64{}, XCache: map[string]int64{},
		hist: newHistogram(),
	}
	var late ScheduleStats
	for _, r := range runs {
		m.Duration += r.Duration
		m.Elapsed += r.Elapsed
		m.Requests += r.Requests
		m.Completed += r.Completed
		m.OK += r.OK
		m.Errors += r.Errors
		m.Missed += r.Missed
		m.Interrupted = m.Interrupted || r.Interrupted
		addCounts(m.Status, r.Status)
		addCounts(m.Transport, r.Transport)
		addCounts(m.XCache, r.XCache)
		if r.Schedule != nil {
			late.merge(*r.Schedule)
			m.Schedule = &late
		}
		if r.hist == nil {
			panic("BUG: MergeResults needs results made by Load")
		}
		mergeInto(m.hist, r.hist)
	}
	if m.Elapsed > 0 {
		m.Rate = float64(m.Requests) / m.Elapsed
	}
	m.Latency, m.Percentiles = summarize(m.hist), percentiles(m.hist)
	return m
}

func addCounts[K comparable](dst, src map[K]int64) {
	for k, v := range maps.All(src) {
		dst[k] += v
	}
}
