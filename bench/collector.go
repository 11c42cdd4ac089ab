package bench

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Tick is one second of a run: the live progress line, kept for a
// latency-over-time plot.
type Tick struct {
	// At is the time since the start of the measured part; negative
	// during warm-up.
	At        float64 `json:"at_s"`
	Warmup    bool    `json:"warmup,omitempty"`
	Rate      float64 `json:"rate"`          // requests finished per second
	P50       int64   `json:"p50_us"`        // of this second's measured requests
	P99       int64   `json:"p99_us"`        // of this second's measured requests
	P99SoFar  int64   `json:"p99_so_far_us"` // of every measured request so far
	Errors    int64   `json:"errors"`        // so far
	Completed int64   `json:"completed"`     // so far, warm-up included
}

// collector drains the workers' histograms into the run's once a second,
// so per-second and cumulative percentiles cost one histogram per worker.
type collector struct {
	workers     []*worker
	start       time.Time
	measureFrom time.Time
	out         io.Writer

	cum, interval *hdrhistogram.Histogram
	timeline      []Tick
	last          Tick
	lastAt        time.Time

	stopc chan struct{}
	wg    sync.WaitGroup
}

func newCollector(workers []*worker, start, measureFrom time.Time, out io.Writer) *collector {
	return &collector{
		workers: workers, start: start, measureFrom: measureFrom, out: out,
		cum: newHistogram(), interval: newHistogram(), lastAt: start,
		stopc: make(chan struct{}),
	}
}

func (c *collector) begin() {
	c.wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-c.stopc:
				return
			case now := <-t.C:
				c.tick(now)
			}
		}
	})
}

// close stops the ticks and drains what the workers recorded last; call it
// after every worker has returned.
func (c *collector) close() {
	close(c.stopc)
	c.wg.Wait()
	c.drain()
}

func (c *collector) tick(now time.Time) {
	completed, errs := c.drain()
	t := Tick{
		At:        now.Sub(c.measureFrom).Seconds(),
		Warmup:    c.lastAt.Before(c.measureFrom),
		Rate:      float64(completed-c.last.Completed) / now.Sub(c.lastAt).Seconds(),
		P50:       c.interval.ValueAtQuantile(50),
		P99:       c.interval.ValueAtQuantile(99),
		P99SoFar:  c.cum.ValueAtQuantile(99),
		Errors:    errs,
		Completed: completed,
	}
	c.last, c.lastAt = t, now
	c.timeline = append(c.timeline, t)
	if c.out != nil {
		fmt.Fprintln(c.out, t.progressLine())
	}
}

// drain moves every worker's latencies into interval and cum, and returns
// the run's totals so far.
func (c *collector) drain() (completed, errs int64) {
	c.interval.Reset()
	for _, w := range c.workers {
		t := w.tally
		t.mu.Lock()
		mergeInto(c.interval, t.hist)
		t.hist.Reset()
		completed += t.completed
		errs += t.c.errors()
		t.mu.Unlock()
	}
	mergeInto(c.cum, c.interval)
	return completed, errs
}

func (t Tick) progressLine() string {
	if t.Warmup {
		return fmt.Sprintf("warmup %5.0fs %9.0f req/s", t.At, t.Rate)
	}
	return fmt.Sprintf("%5.0fs %9.0f req/s  p99 %s (so far %s)  errors %d",
		t.At, t.Rate, fmtUS(t.P99), fmtUS(t.P99SoFar), t.Errors)
}
