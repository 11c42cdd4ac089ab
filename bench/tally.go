package bench

import (
	"errors"
	"net"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/valyala/fasthttp"
)

// tally is what one worker has counted. The worker is its only writer; the
// collector reads it once a second, hence the (uncontended) mutex instead
// of a histogram shared by all workers.
type tally struct {
	mu sync.Mutex
	// hist holds the measured latencies since the collector last drained
	// it: draining gives per-second percentiles without a second histogram.
	hist      *hdrhistogram.Histogram
	completed int64     // every finished request, warm-up included: live rate
	sent      int64     // measured requests started: missed = due - sent
	lastDone  time.Time // of the last measured request: the run's real end
	late      ScheduleStats
	c         counts
}

// counts are the outcome counters of the measured requests.
type counts struct {
	requests  int64
	ok        int64             // 2xx
	status    map[int]int64     // non-2xx, by status: each one is an error
	transport map[string]int64  // no status at all, by kind
	xcache    map[string]*int64 // X-Cache values of 2xx answers only
}

func newTally() *tally {
	return &tally{hist: newHistogram(), c: counts{
		status:    map[int]int64{},
		transport: map[string]int64{},
		xcache:    map[string]*int64{},
	}}
}

// ScheduleStats says how the open-loop schedule was kept: how many requests were
// sent late because every connection was busy (their wait counts in the
// latency), and how late the timers of idle workers fired (it does not).
type ScheduleStats struct {
	Backlogged int64   `json:"backlogged"`
	Woken      int64   `json:"woken"`
	WakeSum    float64 `json:"-"`
	WakeMean   float64 `json:"wake_lag_mean_us"`
	WakeMax    int64   `json:"wake_lag_max_us"`
}

func (l *ScheduleStats) merge(o ScheduleStats) {
	l.Backlogged += o.Backlogged
	l.Woken += o.Woken
	l.WakeSum += o.WakeSum
	l.WakeMax = max(l.WakeMax, o.WakeMax)
	if l.Woken > 0 {
		l.WakeMean = l.WakeSum / float64(l.Woken)
	}
}

func (t *tally) backlogged(measured bool) {
	if measured {
		t.mu.Lock()
		t.late.Backlogged++
		t.mu.Unlock()
	}
}

func (t *tally) wokeLate(measured bool, lag time.Duration) {
	if !measured {
		return
	}
	us := lag.Microseconds()
	t.mu.Lock()
	t.late.Woken++
	t.late.WakeSum += float64(us)
	t.late.WakeMax = max(t.late.WakeMax, us)
	t.mu.Unlock()
}

func (t *tally) started(measured bool) {
	if !measured {
		return
	}
	t.mu.Lock()
	t.sent++
	t.mu.Unlock()
}

// record counts one finished request. Only a 2xx answer is a success and
// only a success counts towards X-Cache outcomes: a 429 from the rate
// limiter must never look like a cache hit.
func (t *tally) record(measured bool, from, done time.Time, status int, xcache []byte, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.completed++
	if !measured {
		return
	}
	recordLatency(t.hist, done.Sub(from))
	t.lastDone = done
	t.c.requests++
	switch {
	case err != nil:
		t.c.transport[transportKind(err)]++
	case status < 200 || status > 299:
		t.c.status[status]++
	default:
		t.c.ok++
		t.c.countXCache(xcache)
	}
}

func (c *counts) countXCache(v []byte) {
	if p := c.xcache[string(v)]; p != nil {
		*p++
		return
	}
	n := int64(1)
	c.xcache[string(v)] = &n
}

// transportKind groups transport errors into a few kinds: messages carry
// addresses and ports, which would make one row per connection.
func transportKind(err error) string {
	var opErr *net.OpError
	switch {
	case errors.Is(err, fasthttp.ErrTimeout):
		return "timeout"
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		return "no free conns"
	case errors.Is(err, fasthttp.ErrConnectionClosed):
		return "connection closed"
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return "dial"
	}
	return "other"
}

// merge adds o into c; c's maps must be non-nil.
func (c *counts) merge(o *counts) {
	c.requests += o.requests
	c.ok += o.ok
	for k, v := range o.status {
		c.status[k] += v
	}
	for k, v := range o.transport {
		c.transport[k] += v
	}
	for k, v := range o.xcache {
		if p := c.xcache[k]; p != nil {
			*p += *v
		} else {
			n := *v
			c.xcache[k] = &n
		}
	}
}

func (c *counts) errors() int64 {
	var n int64
	for _, v := range c.status {
		n += v
	}
	for _, v := range c.transport {
		n += v
	}
	return n
}
