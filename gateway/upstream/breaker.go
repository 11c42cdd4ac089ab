package upstream

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
	"github.com/valyala/fasthttp"
)

// BreakerConfig configures the circuit breaker in front of each target.
// Health checks (see HealthCheck) take a target out of rotation when it
// cannot be reached; the breaker also trips on targets that are reachable
// but failing: timing out or answering 5xx.
type BreakerConfig struct {
	// Failures is how many consecutive failed requests (connection
	// failures, timeouts, 5xx responses) open a target's breaker (default 5).
	// Negative disables the breaker.
	Failures int `yaml:"failures"`

	// Cooldown is how long an open breaker rejects requests without sending
	// them (default 5s); then one probe request is let through, and the
	// breaker closes if it succeeds.
	Cooldown time.Duration `yaml:"cooldown"`
}

// errServerError marks a 5xx response to the breaker as a failure; the
// response itself still goes to the caller.
var errServerError = errors.New("upstream answered 5xx")

// breaker is one target's gobreaker plus an atomic copy of "open", so that
// choosing a target does not take the breaker's mutex on every request.
type breaker struct {
	cb *gobreaker.CircuitBreaker[struct{}]
	// openUntil is when an open breaker will admit a probe (unix nanos);
	// zero while closed or half-open.
	openUntil atomic.Int64
}

func newBreaker(name string, cfg BreakerConfig, onChange func(from, to gobreaker.State)) *breaker {
	if cfg.Failures < 0 {
		return nil
	}
	b := &breaker{}
	failures := uint32(cfg.Failures)
	b.cb = gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        name,
		MaxRequests: 1,
		Timeout:     cfg.Cooldown,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
		// A target without a free connection is busy, not sick.
		IsExcluded: func(err error) bool { return errors.Is(err, fasthttp.ErrNoFreeConns) },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			if to == gobreaker.StateOpen {
				b.openUntil.Store(time.Now().Add(cfg.Cooldown).UnixNano())
			} else {
				b.openUntil.Store(0)
			}
			if onChange != nil {
				onChange(from, to)
			}
		},
	})
	return b
}

// rejecting reports whether the breaker is open and its cooldown has not
// passed: a request sent to it would be refused without a network call.
func (b *breaker) rejecting(now int64) bool {
	if b == nil {
		return false
	}
	until := b.openUntil.Load()
	return until != 0 && now < until
}

// state is the breaker's state name for status reports.
func (b *breaker) state() string {
	if b == nil {
		return "disabled"
	}
	return b.cb.State().String()
}

// do sends one request through the breaker. A 5xx response counts as a
// failure but is returned as a response; a rejected request returns
// errBreakerOpen.
func (b *breaker) do(t *target, req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time) error {
	if b == nil {
		return t.client.DoDeadline(req, resp, deadline)
	}
	_, err := b.cb.Execute(func() (struct{}, error) {
		err := t.client.DoDeadline(req, resp, deadline)
		if err == nil && resp.StatusCode() >= 500 {
			return struct{}{}, errServerError
		}
		return struct{}{}, err
	})
	switch {
	case err == errServerError:
		return nil
	case errors.Is(err, gobreaker.ErrOpenState), errors.Is(err, gobreaker.ErrTooManyRequests):
		return errBreakerOpen
	}
	return err
}
