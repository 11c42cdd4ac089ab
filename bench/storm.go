package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/valyala/fasthttp"

	"github.com/tiercel/tiercel/internal/defaults"
	"github.com/tiercel/tiercel/invalidation"
)

// StormResult is what an invalidation storm did while the load ran.
type StormResult struct {
	Target  float64 `json:"target_events_per_s"`
	Sent    int64   `json:"sent"`
	OK      int64   `json:"ok"` // answered 200 (admin) or acknowledged (Kafka)
	Errors  int64   `json:"errors"`
	Rate    float64 `json:"events_per_s"`
	Elapsed float64 `json:"elapsed_s"`
	Latency Latency `json:"latency"` // of one POST or one acknowledged publish
	Via     string  `json:"via"`
}

// stormWorkers bounds the events in flight: enough for a few thousand
// events/s over loopback, few enough not to compete with the load for the
// generator's CPU.
const stormWorkers = 4

// stormTimeout bounds one event's POST or publish.
const stormTimeout = 2 * time.Second

// storm sends one tag invalidation per schedule ticket until its context
// ends, each tag's key drawn from st.Dist.
type storm struct {
	st    Storm
	via   string
	send  func(ctx context.Context, tag string) error
	close func()
	sched *schedule
	tag   keyTemplate

	sent, ok, errs atomic.Int64
	mu             sync.Mutex
	hist           *hdrhistogram.Histogram
}

// newStorm sends to the admin listener or, with st.Via "kafka", publishes
// to broker with the invalidation package's producer (what Tiercel's users
// would use).
func newStorm(st Storm, admin, broker string) (*storm, error) {
	defaults.Set(&st.Dist, DistUniform)
	s := &storm{st: st, tag: parseTemplate(st.Tag), hist: newHistogram(), close: func() {}}
	switch st.Via {
	case "kafka":
		if broker == "" {
			return nil, errors.New("an invalidation storm through Kafka needs the target's broker")
		}
		p, err := invalidation.NewProducer(invalidation.ProducerConfig{
			Endpoint:     invalidation.Endpoint{Brokers: []string{broker}, Topic: benchTopic},
			BatchTimeout: time.Millisecond,
		})
		if err != nil {
			return nil, err
		}
		s.via, s.close = "Kafka topic "+benchTopic+" at "+broker, func() { _ = p.Close() }
		s.send = func(ctx context.Context, tag string) error {
			ctx, cancel := context.WithTimeout(ctx, stormTimeout)
			defer cancel()
			return p.Publish(ctx, &invalidation.Event{Type: invalidation.TypeInvalidate, Tags: []string{tag}})
		}
	default:
		if admin == "" {
			return nil, errors.New("an invalidation storm needs the target's admin URL")
		}
		s.via = "POST " + admin + "/admin/invalidate"
		s.send = adminSender(admin + "/admin/invalidate")
	}
	return s, nil
}

// adminSender posts {"tags":[tag]}; any answer but 200 is an error.
func adminSender(url string) func(context.Context, string) error {
	client := &fasthttp.Client{MaxConnsPerHost: stormWorkers}
	return func(_ context.Context, tag string) error {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.Header.SetMethod("POST")
		req.Header.SetContentType("application/json")
		req.SetRequestURI(url)
		body := strconv.AppendQuote([]byte(`{"tags":[`), tag)
		req.SetBodyRaw(append(body, "]}"...))
		if err := client.DoTimeout(req, resp, stormTimeout); err != nil {
			return err
		}
		if resp.StatusCode() != fasthttp.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode())
		}
		return nil
	}
}

// run blocks until ctx ends, then reports.
func (s *storm) run(ctx context.Context) *StormResult {
	defer s.close()
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
		Rate: float64(s.ok.Load()) / elapsed, Elapsed: elapsed, Latency: summarize(s.hist), Via: s.via,
	}
}

func (s *storm) worker(ctx context.Context, keys *keyPicker) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		_, due := s.sched.take()
		if d := time.Until(due); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			return
		}
		s.sent.Add(1)
		t0 := time.Now()
		err := s.send(ctx, string(s.tag.appendSame(nil, keys.next())))
		lat := time.Since(t0)
		s.mu.Lock()
		recordLatency(s.hist, lat)
		s.mu.Unlock()
		if err != nil {
			if ctx.Err() == nil {
				s.errs.Add(1)
			}
			continue
		}
		s.ok.Add(1)
	}
}

func (r *StormResult) String() string {
	return fmt.Sprintf("%.0f events/s asked, %.0f/s accepted (%d sent, %d errors), p99 %s per event", r.Target, r.Rate, r.Sent, r.Errors, fmtUS(r.Latency.P99))
}
