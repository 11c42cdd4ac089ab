package upstream

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// healthPolicy is HealthCheck with defaults applied, in the types the hot
// path compares against.
type healthPolicy struct {
	active         bool // probe Path; otherwise passive trials
	path           string
	interval       time.Duration
	timeout        time.Duration
	unhealthyAfter int32
	healthyAfter   int32
	// epoch anchors trial times on the monotonic clock.
	epoch time.Time
}

func newHealthPolicy(h HealthCheck) healthPolicy {
	return healthPolicy{
		active:         h.Path != "",
		path:           h.Path,
		interval:       h.Interval,
		timeout:        h.Timeout,
		unhealthyAfter: int32(h.UnhealthyAfter),
		healthyAfter:   int32(h.HealthyAfter),
		epoch:          time.Now(),
	}
}

func (h *healthPolicy) now() int64 { return int64(time.Since(h.epoch)) }

// targetHealth is read on every request, so everything the hot path touches
// is an atomic that is only written when it changes.
type targetHealth struct {
	healthy  atomic.Bool
	failures atomic.Int32 // consecutive, probes and connection failures alike
	probesOK atomic.Int32 // consecutive successful probes while unhealthy
	// trialAt is when an unhealthy target of a passive pool may take one
	// request to find out whether it recovered (healthPolicy.now units).
	trialAt atomic.Int64

	mu      sync.Mutex
	lastErr string
}

// TargetStatus is one target's health, for readiness endpoints.
type TargetStatus struct {
	Name                string `json:"name"` // the pool's name
	Addr                string `json:"addr"` // the target as configured
	Healthy             bool   `json:"healthy"`
	InFlight            int64  `json:"in_flight"`
	ConsecutiveFailures int    `json:"consecutive_failures"`
	Breaker             string `json:"breaker"`              // closed, open, half-open or disabled
	LastError           string `json:"last_error,omitempty"` // the most recent failure, kept after recovery
}

// Status reports every target in configuration order.
func (p *Pool) Status() []TargetStatus {
	out := make([]TargetStatus, len(p.targets))
	for i, t := range p.targets {
		t.state.mu.Lock()
		lastErr := t.state.lastErr
		t.state.mu.Unlock()
		out[i] = TargetStatus{
			Name:                p.name,
			Addr:                t.name,
			Healthy:             t.state.healthy.Load(),
			InFlight:            t.inFlight.Load(),
			ConsecutiveFailures: int(t.state.failures.Load()),
			Breaker:             t.cb.State().String(),
			LastError:           lastErr,
		}
	}
	return out
}

func (p *Pool) recordFailure(t *target, err error) {
	s := &t.state
	s.mu.Lock()
	s.lastErr = err.Error()
	s.mu.Unlock()
	s.probesOK.Store(0)
	n := s.failures.Add(1)
	if n < p.health.unhealthyAfter || !s.healthy.Load() {
		return
	}
	// Set before the flip so that no request sees an unhealthy target with
	// a stale trial time and claims a trial at once.
	s.trialAt.Store(p.health.now() + int64(p.health.interval))
	if s.healthy.CompareAndSwap(true, false) {
		p.unhealthy.Add(1)
		p.logger.Warn("upstream target unhealthy", "target", t.name, "failures", n, "error", err)
	}
}

// recordSuccess is called for every response, so it writes nothing in the
// steady state.
func (p *Pool) recordSuccess(t *target) {
	s := &t.state
	if s.failures.Load() != 0 {
		s.failures.Store(0)
	}
	// With probes, only probes bring a target back (HealthyAfter of them);
	// without, the passive trial request just succeeded.
	if !p.health.active && !s.healthy.Load() {
		p.markHealthy(t, "request succeeded")
	}
}

func (p *Pool) markHealthy(t *target, why string) {
	s := &t.state
	if s.healthy.CompareAndSwap(false, true) {
		s.failures.Store(0)
		s.probesOK.Store(0)
		p.unhealthy.Add(-1)
		p.logger.Info("upstream target healthy", "target", t.name, "reason", why)
	}
}

// claimTrial reports whether the caller may send the one trial request that
// an unhealthy target of a passive pool gets per interval.
func (p *Pool) claimTrial(t *target) bool {
	if p.health.active || t.state.healthy.Load() {
		return false
	}
	at := t.state.trialAt.Load()
	now := p.health.now()
	return now >= at && t.state.trialAt.CompareAndSwap(at, now+int64(p.health.interval))
}

func (p *Pool) startProbes() {
	for _, t := range p.targets {
		p.wg.Add(1)
		go p.probeLoop(t)
	}
}

// probeLoop probes t at once, then every interval until Close. Each target
// has its own loop so that one hung target cannot delay the others' probes.
func (p *Pool) probeLoop(t *target) {
	defer p.wg.Done()
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(t.scheme + "://" + t.host + p.health.path)
	req.Header.SetUserAgent("tiercel-health-check")

	tick := time.NewTicker(p.health.interval)
	defer tick.Stop()
	for {
		p.probe(t, req, resp)
		select {
		case <-p.stop:
			return
		case <-tick.C:
		}
	}
}

func (p *Pool) probe(t *target, req *fasthttp.Request, resp *fasthttp.Response) {
	err := t.client.DoDeadline(req, resp, time.Now().Add(p.health.timeout))
	switch code := resp.StatusCode(); {
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		// Saturated by real traffic: busy, not down. No verdict.
	case err != nil:
		p.recordFailure(t, fmt.Errorf("health check failed: %w", err))
	case code < 200 || code > 399:
		p.recordFailure(t, fmt.Errorf("health check failed: status %d", code))
	default:
		p.probeSucceeded(t)
	}
}

func (p *Pool) probeSucceeded(t *target) {
	s := &t.state
	if s.failures.Load() != 0 {
		s.failures.Store(0)
	}
	if !s.healthy.Load() && s.probesOK.Add(1) >= p.health.healthyAfter {
		p.markHealthy(t, "health checks passed")
	}
}
