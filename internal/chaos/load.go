package chaos

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tiercel/tiercel/internal/defaults"
)

// Target is one kind of request a load run sends.
type Target struct {
	// Name labels the target in failures.
	Name string
	// Method defaults to GET.
	Method string
	// Path returns request i's path and query.
	Path func(i uint64) string
	// Body returns request i's body; nil sends none.
	Body func(i uint64) []byte
	// Headers are sent with every request.
	Headers map[string]string
	// Steps reads the ladder steps an answer reports; nil reads X-Cache.
	Steps func(resp *fasthttp.Response) []string
	// Budget is the route's end-to-end budget, what the answer's latency
	// is held to.
	Budget time.Duration
	// Expect lists the acceptable statuses; empty means only 200.
	Expect []int
	// Base picks the replica (index into LoadConfig.Bases) request i of
	// this target goes to; nil: a hash of the request's number. A fault
	// that needs reads through the replica that did not fill a key (L2
	// hits) says which.
	Base func(i uint64) int
}

// Expected reports whether status is an acceptable answer for t.
func (t *Target) Expected(status int) bool {
	if len(t.Expect) == 0 {
		return status == fasthttp.StatusOK
	}
	for _, s := range t.Expect {
		if s == status {
			return true
		}
	}
	return false
}

// Phase says where in a fault's timeline a request was due.
type Phase int32

const (
	// Before the fault: the warm, healthy baseline.
	Before Phase = iota
	// During the fault.
	During
	// After the fault was cleared: recovery.
	After
)

var phaseNames = [...]string{"before", "during", "after"}

func (p Phase) String() string { return phaseNames[p] }

// Sample is what one request saw.
type Sample struct {
	Target string
	Path   string
	Base   int // index into LoadConfig.Bases
	Phase  Phase
	Due    time.Time
	// Latency runs from the intended send time (Due) to the end of the
	// answer: time the request spent waiting to be sent counts, so a
	// stalled gateway cannot hide behind a stalled generator (no
	// coordinated omission).
	Latency time.Duration
	Status  int    // 0: no answer
	Err     string // transport error, when Status is 0
	Steps   []string
	Body    string // the start of a non-2xx answer's body, for failures
	// Timing is the answer's Server-Timing header: where the gateway
	// spent the time, to tell a slow stage from a slow machine.
	Timing string
}

// LoadConfig describes an open-loop run.
type LoadConfig struct {
	// Bases are the gateways' base URLs ("http://127.0.0.1:1234"). Each
	// request goes to one of them, picked by a hash of its number: never
	// in lockstep with a target's key cycle, so every key is read through
	// every replica.
	Bases   []string
	Targets []Target
	// Rate is the total arrival rate in requests/s, spread evenly over the
	// targets in turn.
	Rate float64
	// Timeout bounds each request on the client side (default 2s): a hung
	// gateway shows as a latency of Timeout, never as a hung test.
	Timeout time.Duration
}

// Load is an open-loop run in progress: requests are sent at their due
// times whether or not earlier ones have been answered.
type Load struct {
	cfg    LoadConfig
	client *fasthttp.Client
	phase  atomic.Int32
	stop   chan struct{}
	done   chan struct{}
	wg     sync.WaitGroup

	mu      sync.Mutex
	samples []Sample
}

// StartLoad starts sending; Stop ends the run.
func StartLoad(cfg LoadConfig) (*Load, error) {
	switch {
	case len(cfg.Bases) == 0 || len(cfg.Targets) == 0:
		return nil, errors.New("cannot start load: no bases or no targets")
	case cfg.Rate <= 0:
		return nil, fmt.Errorf("cannot start load: rate %v", cfg.Rate)
	}
	defaults.Set(&cfg.Timeout, 2*time.Second)
	l := &Load{
		cfg: cfg,
		client: &fasthttp.Client{
			// Never retried: a retry would hide a failure, and its latency
			// would be two attempts'.
			MaxIdemponentCallAttempts: 1,
			MaxConnsPerHost:           4096,
			ReadTimeout:               cfg.Timeout,
			WriteTimeout:              cfg.Timeout,
		},
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	go l.dispatch()
	return l, nil
}

// SetPhase labels the requests due from now on.
func (l *Load) SetPhase(p Phase) { l.phase.Store(int32(p)) }

// dispatch starts request i at start + i/Rate, each in its own goroutine,
// so a slow answer never delays the next request.
func (l *Load) dispatch() {
	defer close(l.done)
	interval := time.Duration(float64(time.Second) / l.cfg.Rate)
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for i := uint64(0); ; i++ {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-l.stop:
				return
			}
		} else {
			select {
			case <-l.stop:
				return
			default:
			}
		}
		phase := Phase(l.phase.Load())
		l.wg.Go(func() { l.send(i, due, phase) })
	}
}

func (l *Load) send(i uint64, due time.Time, phase Phase) {
	nt := uint64(len(l.cfg.Targets))
	t := &l.cfg.Targets[i%nt]
	base := int(mix(i) % uint64(len(l.cfg.Bases)))
	if t.Base != nil {
		base = t.Base(i/nt) % len(l.cfg.Bases)
	}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	path := t.Path(i / nt)
	req.SetRequestURI(l.cfg.Bases[base] + path)
	if t.Method != "" {
		req.Header.SetMethod(t.Method)
	}
	for k, v := range t.Headers {
		req.Header.Set(k, v)
	}
	if t.Body != nil {
		req.SetBodyRaw(t.Body(i / nt))
	}
	err := l.client.DoDeadline(req, resp, time.Now().Add(l.cfg.Timeout))
	s := Sample{Target: t.Name, Path: path, Base: base, Phase: phase, Due: due, Latency: time.Since(due)}
	if err != nil {
		s.Err = err.Error()
	} else {
		s.Status = resp.StatusCode()
		if t.Steps != nil {
			s.Steps = t.Steps(resp)
		} else if xc := resp.Header.Peek("X-Cache"); len(xc) > 0 {
			s.Steps = []string{string(xc)}
		}
		if s.Status/100 != 2 {
			s.Body = clip(string(resp.Body()), 200)
		}
		s.Timing = string(resp.Header.Peek("Server-Timing"))
	}
	l.mu.Lock()
	l.samples = append(l.samples, s)
	l.mu.Unlock()
}

// Snapshot returns a copy of the samples answered so far.
func (l *Load) Snapshot() []Sample {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Sample(nil), l.samples...)
}

// Stop ends the run: no more requests are sent, and it returns once every
// request sent has been answered or has timed out, with all the samples.
func (l *Load) Stop() []Sample {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	<-l.done
	l.wg.Wait()
	l.client.CloseIdleConnections()
	return l.Snapshot()
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// mix is splitmix64's finalizer: a cheap, deterministic scramble.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}
