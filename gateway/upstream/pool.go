package upstream

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tiercel/tiercel/internal/breaker"
)

// Pool sends requests to a set of interchangeable targets. It is safe for
// concurrent use; create it with New and stop it with Close.
type Pool struct {
	name    string
	targets []*target
	retries int
	// leastLoaded selects by in-flight count instead of rotation.
	leastLoaded bool
	// next rotates round robin, and breaks ties for least_loaded so that
	// idle targets share the load instead of the first one taking it all.
	next atomic.Uint64

	health healthPolicy
	// maxInFlight bounds inFlight; 0 is no bound.
	maxInFlight int64
	inFlight    atomic.Int64
	hedgeAfter  time.Duration
	// openBreakers counts targets whose breaker is open, so the hot path
	// reads the clock only when one might be.
	openBreakers atomic.Int32
	// unhealthy counts unhealthy targets, so the hot path skips the search
	// for a passive trial when there is none.
	unhealthy atomic.Int32

	logger *slog.Logger
	closed atomic.Bool
	stop   chan struct{}
	wg     sync.WaitGroup

	requests    atomic.Uint64
	retried     atomic.Uint64
	timeouts    atomic.Uint64
	unavailable atomic.Uint64
	overloaded  atomic.Uint64
	rejected    atomic.Uint64 // refused by open breakers
	hedges      atomic.Uint64
	hedgeWins   atomic.Uint64
}

// target is one upstream server and what the pool knows about it.
type target struct {
	name   string // as configured: what operators recognise in Status
	scheme string
	host   string // host:port, dialled and sent as Host
	client *fasthttp.HostClient

	inFlight atomic.Int64
	state    targetHealth
	cb       *breaker.Breaker // nil when breakers are disabled
}

// Result describes a completed Do or Proxy call, successful or not.
type Result struct {
	Target   string // the last target tried, as configured; empty if none
	Attempts int
	Duration time.Duration
}

// Stats are cumulative counters since New.
type Stats struct {
	Requests    uint64 // calls to Do, including those made by Proxy
	Retries     uint64 // extra attempts after a connection failure
	Timeouts    uint64 // calls that returned ErrTimeout
	Unavailable uint64 // calls that returned ErrUnavailable, Overloaded and ErrOpen ones included
	Overloaded  uint64 // calls refused at once by max_in_flight
	Rejected    uint64 // attempts (not calls) refused by an open breaker: nothing sent
	Hedges      uint64 // second requests sent by hedge_after
	HedgeWins   uint64 // hedged requests answered by the second target
}

// New creates one keep-alive client per target and, when cfg.HealthCheck.Path
// is set, starts probing. Targets going in and out of rotation are logged to
// logger, which should already name the pool; nil discards them.
func New(cfg Config, logger *slog.Logger) (*Pool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cannot create upstream pool %q: %w", cfg.Name, err)
	}
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p := &Pool{
		name:        cfg.Name,
		retries:     cfg.Retries,
		leastLoaded: cfg.Balance == balanceLeastLoaded,
		health:      newHealthPolicy(cfg.HealthCheck),
		logger:      logger,
		stop:        make(chan struct{}),
		maxInFlight: int64(max(cfg.MaxInFlight, 0)),
		hedgeAfter:  cfg.HedgeAfter,
	}
	for _, s := range cfg.Targets {
		addr, _ := parseTarget(s) // validated above
		t := newTarget(s, addr, cfg)
		t.cb = newBreaker(cfg.Name+" "+s, cfg.Breaker, func(from, to breaker.State) { p.breakerChanged(t, from, to) })
		p.targets = append(p.targets, t)
	}
	if p.health.active {
		p.startProbes()
	}
	return p, nil
}

func newTarget(name string, addr targetAddr, cfg Config) *target {
	t := &target{name: name, scheme: "http", host: addr.hostPort}
	if addr.isTLS {
		t.scheme = "https"
	}
	t.client = &fasthttp.HostClient{
		Addr:        addr.hostPort,
		IsTLS:       addr.isTLS,
		DialTimeout: newDialer(addr, cfg.DialTimeout),
		MaxConns:    cfg.MaxConnsPerTarget,
		// Only the pool retries, and on another target: a retry hidden in
		// the client would hammer a dead target and bypass the idempotency
		// decision, which the caller makes, not the method.
		MaxIdemponentCallAttempts: 1,
		MaxResponseBodySize:       cfg.MaxResponseBytes,
		MaxIdleConnDuration:       cfg.IdleConnTimeout,
		// A proxy forwards what the client sent: no path rewriting, and no
		// User-Agent invented for clients that sent none.
		DisablePathNormalizing:   true,
		NoDefaultUserAgentHeader: true,
	}
	t.state.healthy.Store(true)
	return t
}

// Close stops the health checker and closes idle connections. Requests in
// flight complete; later calls to Do fail with ErrUnavailable. fasthttp's
// idle-connection cleaner notices within IdleConnTimeout that nothing is
// left and exits.
func (p *Pool) Close() {
	if p.closed.Swap(true) {
		return
	}
	close(p.stop)
	p.wg.Wait()
	for _, t := range p.targets {
		t.client.CloseIdleConnections()
	}
}

// Do sends req to a target chosen by the balance policy and fills resp. It
// rewrites req's scheme and host for each target tried. After a connection
// failure an idempotent request is retried on another target while retries
// and time remain. When every target is unhealthy one is tried anyway: the
// health data may be stale, and trying beats certain failure.
//
// Errors wrap ErrTimeout or ErrUnavailable and the underlying cause. A zero
// deadline has already passed.
//
// resp never holds hop-by-hop headers (RFC 9110 §7.6.1: the standard set
// and those the upstream's Connection names): they describe the connection
// Do read them from, and whoever uses resp next (a proxied answer, a stored
// cache entry) must not replay them.
func (p *Pool) Do(req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time, idempotent bool) (Result, error) {
	res, err := p.do(req, resp, deadline, idempotent)
	if err == nil {
		stripHopByHop(&resp.Header)
	}
	return res, err
}

func (p *Pool) do(req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time, idempotent bool) (Result, error) {
	start := time.Now()
	p.requests.Add(1)
	if p.closed.Load() {
		return Result{}, p.wrapError(Result{}, failResponse, errClosed)
	}
	if n := p.inFlight.Add(1); p.maxInFlight > 0 && n > p.maxInFlight {
		p.inFlight.Add(-1)
		p.overloaded.Add(1)
		p.unavailable.Add(1)
		return Result{}, fmt.Errorf("cannot send to upstream %q: %w", p.name, ErrOverloaded)
	}
	defer p.inFlight.Add(-1)
	if p.hedgeAfter > 0 && idempotent && len(p.targets) > 1 {
		return p.doHedged(req, resp, deadline, start)
	}
	var (
		res   Result
		tried triedSet
		err   error
		kind  failure
	)
	maxAttempts := 1
	if idempotent {
		maxAttempts += p.retries
	}
	for res.Attempts < maxAttempts {
		if res.Attempts > 0 {
			p.retried.Add(1)
		}
		t := p.pick(&tried)
		res.Target = t.name
		res.Attempts++
		err = p.attempt(t, req, resp, deadline)
		if err == nil {
			break
		}
		kind = classify(err, deadline)
		switch kind {
		case failConnect:
			p.recordFailure(t, err)
		case failOpen:
			p.rejected.Add(1)
		}
		if !kind.retryable() {
			break
		}
	}
	res.Duration = time.Since(start)
	if err != nil {
		return res, p.wrapError(res, kind, err)
	}
	return res, nil
}

func (p *Pool) attempt(t *target, req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time) error {
	uri := req.URI()
	uri.SetScheme(t.scheme)
	uri.SetHost(t.host)
	t.inFlight.Add(1)
	err := send(t, req, resp, deadline)
	t.inFlight.Add(-1)
	if err == nil {
		p.recordSuccess(t)
	}
	return err
}

func (p *Pool) wrapError(res Result, kind failure, err error) error {
	sentinel := ErrUnavailable
	switch kind {
	case failTimeout:
		sentinel = ErrTimeout
		p.timeouts.Add(1)
	case failOpen:
		sentinel = ErrOpen
		p.unavailable.Add(1)
	default:
		p.unavailable.Add(1)
	}
	return fmt.Errorf("cannot get a response from upstream %q (target %s, %d attempts): %w: %w",
		p.name, res.Target, res.Attempts, sentinel, err)
}

// Stats returns the counters since New.
func (p *Pool) Stats() Stats {
	return Stats{
		Requests:    p.requests.Load(),
		Retries:     p.retried.Load(),
		Timeouts:    p.timeouts.Load(),
		Unavailable: p.unavailable.Load(),
		Overloaded:  p.overloaded.Load(),
		Rejected:    p.rejected.Load(),
		Hedges:      p.hedges.Load(),
		HedgeWins:   p.hedgeWins.Load(),
	}
}

func (p *Pool) breakerChanged(t *target, from, to breaker.State) {
	switch {
	case to == breaker.Open && from != breaker.Open:
		p.openBreakers.Add(1)
		p.logger.Warn("upstream target breaker open", "target", t.name, "from", from.String())
	case from == breaker.Open && to != breaker.Open:
		p.openBreakers.Add(-1)
	}
	if to == breaker.Closed {
		p.logger.Info("upstream target breaker closed", "target", t.name)
	}
}
