package bench

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// run is one load run in progress.
type run struct {
	cfg    Config
	kinds  []*kind
	client *fasthttp.HostClient
	sched  *schedule    // nil in closed loop
	issued atomic.Int64 // closed-loop requests started, for Config.Count

	start, measureFrom, end time.Time
	stop                    <-chan struct{}
}

func (r *run) stopped() bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

// Load runs cfg against its URL and returns the measured result. Cancelling
// ctx ends the run early; the result then covers the part that ran.
func Load(ctx context.Context, cfg Config) (*Result, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("cannot load: %w", err)
	}
	kinds, err := newKinds(cfg.Requests)
	if err != nil {
		return nil, fmt.Errorf("cannot load: %w", err)
	}
	client, err := newClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("cannot load: %w", err)
	}
	defer client.CloseIdleConnections()

	r := &run{cfg: cfg, kinds: kinds, client: client, stop: ctx.Done()}
	var cancelledAt atomic.Int64
	defer context.AfterFunc(ctx, func() { cancelledAt.Store(time.Now().UnixNano()) })()

	workers := make([]*worker, cfg.Conns)
	for i := range workers {
		workers[i] = newWorker(r, i)
	}
	r.start = time.Now()
	r.measureFrom = r.start.Add(cfg.Warmup)
	r.end = r.measureFrom.Add(cfg.Duration)
	if cfg.Rate > 0 {
		r.sched = newRampSchedule(r.start, cfg.Rate, cfg.RampFrom, cfg.RampOver)
	}
	col := newCollector(workers, r.start, r.measureFrom, cfg.Progress)
	col.begin()
	r.runWorkers(workers)
	col.close()

	cut := r.end
	if ns := cancelledAt.Load(); ns != 0 && ns < cut.UnixNano() {
		cut = time.Unix(0, ns)
	}
	return r.result(col, cut), nil
}

func (r *run) runWorkers(workers []*worker) {
	var wg sync.WaitGroup
	for _, w := range workers {
		loop := w.closedLoop
		if r.sched != nil {
			loop = w.openLoop
		}
		wg.Go(loop)
	}
	wg.Wait()
}

// newClient makes a keep-alive client with one connection per worker. It
// never retries: a retried request would hide a failure, and its latency
// would be that of two attempts.
func newClient(cfg Config) (*fasthttp.HostClient, error) {
	var addr string
	var isTLS bool
	for _, r := range cfg.Requests {
		var uri fasthttp.URI
		if err := uri.Parse(nil, parseTemplate(r.URL).appendSame(nil, 0)); err != nil {
			return nil, fmt.Errorf("cannot parse url %q: %w", r.URL, err)
		}
		scheme := string(uri.Scheme())
		if scheme != "http" && scheme != "https" {
			return nil, fmt.Errorf("url %q: scheme %q is not http or https", r.URL, scheme)
		}
		if len(bytes.TrimSpace(uri.Host())) == 0 {
			return nil, fmt.Errorf("url %q has no host", r.URL)
		}
		a := fasthttp.AddMissingPort(string(uri.Host()), scheme == "https")
		if addr != "" && (a != addr || isTLS != (scheme == "https")) {
			return nil, fmt.Errorf("url %q: every request of a run must go to %s", r.URL, addr)
		}
		addr, isTLS = a, scheme == "https"
	}
	return &fasthttp.HostClient{
		Addr:                      addr,
		IsTLS:                     isTLS,
		MaxConns:                  cfg.Conns,
		MaxConnWaitTimeout:        cfg.Timeout,
		MaxIdemponentCallAttempts: 1,
		ReadBufferSize:            16 << 10,
	}, nil
}
