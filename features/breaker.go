package features

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"

	"github.com/tiercel/tiercel/internal/defaults"
	"github.com/tiercel/tiercel/internal/redisconn"
)

// Every dependency of the Store (the feature Redis, each http view's
// upstream, each OIP model server) is called through a circuit breaker of
// its own: after Failures consecutive failures (errors, timeouts, 5xx) it
// opens, and for Cooldown every call is answered at once with
// ErrBreakerOpen, without touching the network, so requests go straight to
// their fallback (DEFAULT/NOT_FOUND values, stale or default predictions)
// instead of each spending its budget on a dependency known to be down.
// Then one probe call is let through (half-open): success closes it.

// BreakerConfig tunes a breaker. Zero fields take features.breaker's
// values, whose zero fields are the defaults.
type BreakerConfig struct {
	// Failures: consecutive failed calls that open the breaker (default 5).
	Failures uint32 `yaml:"failures"`
	// Cooldown: how long it stays open before a probe (default 5s).
	Cooldown time.Duration `yaml:"cooldown"`
}

const (
	defaultBreakerFailures = 5
	defaultBreakerCooldown = 5 * time.Second
)

// over fills b's zero fields from def.
func (b BreakerConfig) over(def BreakerConfig) BreakerConfig {
	defaults.Set(&b.Failures, def.Failures)
	defaults.Set(&b.Cooldown, def.Cooldown)
	return b
}

// ErrBreakerOpen is the error of a call skipped by an open breaker.
var ErrBreakerOpen = errors.New("circuit breaker open")

// breaker guards one dependency.
type breaker struct {
	name string // as in /readyz: features:redis, view:<name>, model:<name>
	cb   *gobreaker.TwoStepCircuitBreaker[struct{}]
	// skipped counts calls answered by the open breaker.
	skipped atomic.Uint64
}

func newBreaker(name string, cfg BreakerConfig, log *slog.Logger) *breaker {
	failures := cfg.Failures
	return &breaker{name: name, cb: gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        name,
		MaxRequests: 1,
		Timeout:     cfg.Cooldown,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
		// A caller that went away says nothing about the dependency.
		IsExcluded: func(err error) bool { return errors.Is(err, context.Canceled) },
		OnStateChange: func(name string, from, to gobreaker.State) {
			if to == gobreaker.StateOpen {
				log.Warn("features dependency failing: serving fallbacks", "dependency", name, "from", from.String())
				return
			}
			log.Info("features dependency breaker", "dependency", name, "from", from.String(), "to", to.String())
		},
	})}
}

// allow asks to make one call. The caller reports the call's failure (nil:
// success) to done. While the breaker is open (or its one probe is out) it
// returns ErrBreakerOpen and the caller must not call.
func (b *breaker) allow() (done func(error), err error) {
	done, err = b.cb.Allow()
	if err != nil {
		b.skipped.Add(1)
		return nil, ErrBreakerOpen
	}
	return done, nil
}

// State is closed, open or half-open.
func (b *breaker) State() string { return b.cb.State().String() }

// redisFailure is err as the feature Redis' breaker sees it: the shared
// rule (redisconn.Failure: a missing key or a data error proves Redis is
// there; a timeout, a lost connection or a reply saying the node cannot
// serve the key now does not), except that a caller that left stays an
// error, which the breaker excludes: as nil it would count as a success,
// and close a half-open breaker on a probe nobody waited for.
func redisFailure(err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	return redisconn.Failure(err)
}

// pipeFailure is a pipeline's verdict for the breaker: its first command
// that failed by redisFailure's rule (on a cluster each shard answers for
// its own commands), else nil; err, the pipeline's own error, when there
// are no commands to look at.
func pipeFailure(cmds []redis.Cmder, err error) error {
	if len(cmds) == 0 {
		return redisFailure(err)
	}
	for _, c := range cmds {
		if f := redisFailure(c.Err()); f != nil {
			return f
		}
	}
	return nil
}

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
