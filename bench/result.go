package bench

import (
	"time"
)

// Result is what one load run measured. Only requests due (open loop) or
// sent (closed loop) after the warm-up count.
type Result struct {
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
	Rate     float64 `json:"rate"`
	OK       int64   `json:"ok"` // 2xx answers
	Errors   int64   `json:"errors"`
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
	Timeline    []Tick         `json:"timeline"`
}

// HitRatio is the share of 2xx answers whose X-Cache value starts with
// "HIT"; errors are neither hits nor misses.
func (res *Result) HitRatio() float64 {
	if res.OK == 0 {
		return 0
	}
	var hits int64
	for k, v := range res.XCache {
		if len(k) >= 3 && k[:3] == "HIT" {
			hits += v
		}
	}
	return float64(hits) / float64(res.OK)
}

func (r *run) result(col *collector, cut time.Time) *Result {
	total := counts{status: map[int]int64{}, transport: map[string]int64{}, xcache: map[string]*int64{}}
	var sent int64
	var late ScheduleStats
	last := r.measureFrom
	for _, w := range col.workers {
		total.merge(&w.tally.c)
		sent += w.tally.sent
		late.merge(w.tally.late)
		if w.tally.lastDone.After(last) {
			last = w.tally.lastDone
		}
	}
	res := &Result{
		URL: r.cfg.URL, Method: r.cfg.Method, Mode: "closed", Conns: r.cfg.Conns,
		Keys: r.cfg.Keys, Duration: r.cfg.Duration.Seconds(),
		Elapsed: last.Sub(r.measureFrom).Seconds(), Requests: total.requests,
		OK: total.ok, Errors: total.errors(), Status: total.status,
		Transport: total.transport, XCache: map[string]int64{},
		Interrupted: cut.Before(r.end), Latency: summarize(col.cum), Timeline: col.timeline,
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
