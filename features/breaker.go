package features

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/tiercel/tiercel/internal/breaker"
)

// Every dependency of the Store (the feature Redis, each http view's
// upstream, each OIP model server) is called through a circuit breaker of
// its own: after Failures consecutive failures (errors, timeouts, 5xx) it
// opens, and for Cooldown every call is answered at once with
// ErrBreakerOpen, without touching the network, so requests go straight to
// their fallback (DEFAULT/NOT_FOUND values, stale or default predictions)
// instead of each spending its budget on a dependency known to be down.
// Then one probe call is let through (half-open): success closes it.

// Each breaker's Config is a `breaker:` key (internal/breaker); zero
// fields take features.breaker's values, whose zero fields are the
// defaults: 5 failures, 5s cooldown.
const defaultBreakerCooldown = 5 * time.Second

// ErrBreakerOpen is the error of a call skipped by an open breaker.
var ErrBreakerOpen = breaker.ErrOpen

// guard is one dependency's breaker, named as in /readyz, with the calls
// it skipped.
type guard struct {
	name string // features:redis, view:<name>, model:<name>
	cb   *breaker.TwoStep
	// skipped counts calls answered by the open breaker.
	skipped atomic.Uint64
}

func newGuard(name string, cfg breaker.Config, log *slog.Logger) *guard {
	return &guard{name: name, cb: breaker.NewTwoStep(cfg, breaker.Options{
		Name: name,
		OnStateChange: func(from, to breaker.State) {
			if to == breaker.Open {
				log.Warn("features dependency failing: serving fallbacks", "dependency", name, "from", from.String())
				return
			}
			log.Info("features dependency breaker", "dependency", name, "from", from.String(), "to", to.String())
		},
	})}
}

// allow asks to make one call. The caller reports the call's failure (nil:
// success; for Redis, redisconn.Failure's verdict) to done. While the
// breaker is open (or its one probe is out) it returns ErrBreakerOpen and
// the caller must not call.
func (b *guard) allow() (done func(error), err error) {
	done, err = b.cb.Allow()
	if err != nil {
		b.skipped.Add(1)
		return nil, ErrBreakerOpen
	}
	return done, nil
}

// State is closed, open, half-open or disabled.
func (b *guard) State() string { return b.cb.State().String() }

// Reason classifies why a dependency gave no answer, for the fallback
// counters.
type Reason uint8

const (
	ReasonError       Reason = iota // the call failed
	ReasonTimeout                   // the budget or the dependency's timeout ran out
	ReasonBreakerOpen               // skipped: the breaker is open
	// ReasonNoInputs: a prediction row whose input features could not be
	// read (and had no defaults), so the model was not asked.
	ReasonNoInputs
	numReasons
)

var reasonNames = [numReasons]string{ReasonError: "error", ReasonTimeout: "timeout",
	ReasonBreakerOpen: "breaker_open", ReasonNoInputs: "no_inputs"}

func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "unknown"
}

func reasonOf(err error) Reason {
	var ne net.Error
	switch {
	case errors.Is(err, ErrBreakerOpen):
		return ReasonBreakerOpen
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return ReasonTimeout
	}
	return ReasonError
}
