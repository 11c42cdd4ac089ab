package upstream

import (
	"errors"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tiercel/tiercel/internal/breaker"
)

// Each target has its own circuit breaker (Config.Breaker). Health checks
// (see HealthCheck) take a target out of rotation when it cannot be
// reached; the breaker also trips on targets that are reachable but
// failing: timing out or answering 5xx. Choosing a target reads the
// breaker's lock-free Open, never its mutex.

// errServerError marks a 5xx response to the breaker as a failure; the
// response itself still goes to the caller.
var errServerError = errors.New("upstream answered 5xx")

func newBreaker(name string, cfg breaker.Config, onChange func(from, to breaker.State)) *breaker.Breaker {
	return breaker.New(cfg, breaker.Options{
		Name: name,
		// A target without a free connection is busy, not sick.
		Exclude:       func(err error) bool { return errors.Is(err, fasthttp.ErrNoFreeConns) },
		OnStateChange: onChange,
	})
}

// send sends one request through t's breaker. A 5xx response counts as a
// failure but is returned as a response; a refused request returns
// breaker.ErrOpen.
func send(t *target, req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time) error {
	err := t.cb.Do(func() error {
		err := t.client.DoDeadline(req, resp, deadline)
		if err == nil && resp.StatusCode() >= 500 {
			return errServerError
		}
		return err
	})
	if err == errServerError {
		return nil
	}
	return err
}
