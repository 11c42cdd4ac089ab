package bench

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/valyala/fasthttp"
)

// StormResult is what an invalidation storm did while the load ran.
type StormResult struct {
	Target   float64 `json:"target_events_per_s"`
	Sent     int64   `json:"sent"`
	OK       int64   `json:"ok"`
	Errors   int64   `json:"errors"`
	Rate     float64 `json:"events_per_s"`
	Elapsed  float64 `json:"elapsed_s"`
	Latency  Latency `json:"latency"` // of the admin POSTs
	Endpoint string  `json:"endpoint"`
}

// stormWorkers bounds the invalidations in flight: enough to keep a few
// thousand events/s going over loopback, few enough not to compete with
// the load for the generator's CPU.
const stormWorkers = 4

// storm posts {"tags":[tag]} to admin/admin/invalidate at st.Rate
// events/s until ctx ends; each event's key is drawn from st.Dist.
type storm struct {
	st     Storm
	url    string
	client *fasthttp.Client
	sched  *schedule
	tag    keyTemplate

	sent, ok, errs atomic.Int64
	mu             sync.Mutex
	hist           *hdrhistogram.Histogram
}

func newStorm(st Storm, admin string) *storm {
	if st.Dist == "" {
		st.Dist = DistUniform
	}
	return &storm{
		st: st, url: admin + "/admin/invalidate", tag: parseTemplate(st.Tag),
		client: &fasthttp.Client{MaxConnsPerHost: stormWorkers}, hist: newHistogram(),
	}
}

// run blocks until ctx ends, then reports.
func (s *storm) run(ctx context.Context) *StormResult {
	start := time.Now()
	s.sched = newSchedule(start, s.st.Rate)
	var wg sync.WaitGroup
	for i := range stormWorkers {
		keys := newKeyPicker(Request{Keys: s.st.Keys, Dist: s.st.Dist, ZipfS: 1.1}, i, 0, 7, new(atomic.Uint64))
		wg.Go(func() { s.worker(ctx, keys) })
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	return &StormResult{
		Target: s.st.Rate, Sent: s.sent.Load(), OK: s.ok.Load(), Errors: s.errs.Load(),
		Rate: float64(s.ok.Load()) / elapsed, Elapsed: elapsed, Latency: summarize(s.hist), Endpoint: s.url,
	}
}

func (s *storm) worker(ctx context.Context, keys *keyPicker) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod("POST")
	req.Header.SetContentType("application/json")
	req.SetRequestURI(s.url)
	timer := time.NewTimer(0)
	<-timer.C
	var body []byte
	for {
		_, due := s.sched.take()
		if d := time.Until(due); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				timer.Stop()
				return
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			return
		}
		body = append(body[:0], `{"tags":[`...)
		body = strconv.AppendQuote(body, string(s.tag.appendSame(nil, keys.next())))
		body = append(body, "]}"...)
		req.SetBodyRaw(body)
		s.sent.Add(1)
		t0 := time.Now()
		err := s.client.DoTimeout(req, resp, 2*time.Second)
		lat := time.Since(t0)
		s.mu.Lock()
		recordLatency(s.hist, lat)
		s.mu.Unlock()
		if err != nil || resp.StatusCode() != fasthttp.StatusOK {
			s.errs.Add(1)
			continue
		}
		s.ok.Add(1)
	}
}

func (r *StormResult) String() string {
	return fmt.Sprintf("%.0f events/s asked, %.0f applied/s (%d sent, %d errors), p99 %s", r.Target, r.Rate, r.Sent, r.Errors, fmtUS(r.Latency.P99))
}
