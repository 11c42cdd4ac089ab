package breaker

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
)

// ErrOpen is the error of a call the breaker refused without making it:
// open, or half-open with its one probe already out.
var ErrOpen = errors.New("circuit breaker open")

// State is a breaker's state, as owners report it in readiness checks,
// status pages and metrics.
type State uint8

const (
	Closed   State = iota // calls are made
	HalfOpen              // one probe call is let through
	Open                  // calls are refused until the cooldown passes
	Disabled              // no breaker (Config.Failures < 0): calls are always made
)

var stateNames = [...]string{Closed: "closed", HalfOpen: "half-open", Open: "open", Disabled: "disabled"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown"
}

func stateOf(s gobreaker.State) State {
	switch s {
	case gobreaker.StateOpen:
		return Open
	case gobreaker.StateHalfOpen:
		return HalfOpen
	}
	return Closed
}

// Options are what an owner adds to its Config.
type Options struct {
	// Name is the breaker's name in gobreaker (for debugging).
	Name string

	// Exclude reports errors that say nothing about the dependency, which
	// count neither as successes nor as failures (a target without a free
	// connection is busy, not sick). context.Canceled is always excluded:
	// a caller that left says nothing about the dependency, and as a
	// success it would close a half-open breaker on a probe nobody waited
	// for. nil: only context.Canceled.
	Exclude func(error) bool

	// OnStateChange, when set, is told every transition, for the owner's
	// logs and counters. It runs under the breaker's lock: it must not
	// call the breaker.
	OnStateChange func(from, to State)
}

// Breaker guards calls made and judged in one place (Do). A nil *Breaker
// is a disabled one: Do makes every call, State is Disabled.
type Breaker struct {
	cb *gobreaker.CircuitBreaker[struct{}]
	openFlag
}

// New returns a breaker for cfg, whose zero fields must have been filled
// (Config.Or), or nil when cfg disables it.
func New(cfg Config, opts Options) *Breaker {
	if cfg.Failures < 0 {
		return nil
	}
	b := &Breaker{}
	b.cb = gobreaker.NewCircuitBreaker[struct{}](b.settings(cfg, opts))
	return b
}

// Do makes call unless the breaker refuses it (ErrOpen), and counts its
// error: nil is a success, an excluded error nothing, any other a
// failure. It returns call's error as is. The hot path takes gobreaker's
// mutex twice and allocates nothing.
func (b *Breaker) Do(call func() error) error {
	if b == nil {
		return call()
	}
	_, err := b.cb.Execute(func() (struct{}, error) { return struct{}{}, call() })
	if err == gobreaker.ErrOpenState || err == gobreaker.ErrTooManyRequests {
		return ErrOpen
	}
	return err
}

// State is the breaker's state now (moving an open breaker whose
// cooldown passed to half-open).
func (b *Breaker) State() State {
	if b == nil {
		return Disabled
	}
	return stateOf(b.cb.State())
}

// Open reports whether the breaker is open and its cooldown has not
// passed: a call now would be refused without being made. Unlike State
// it takes no lock: one atomic load, and a clock read only while open.
func (b *Breaker) Open() bool { return b != nil && b.open() }

// OpenAt is Open at now (unix nanoseconds), for a caller that reads the
// clock once for several breakers.
func (b *Breaker) OpenAt(now int64) bool { return b != nil && b.openAt(now) }

// TwoStep guards calls whose verdict is known only later, away from the
// call (a pipeline read reply by reply): Allow, then done. A nil *TwoStep
// is a disabled one.
type TwoStep struct {
	cb *gobreaker.TwoStepCircuitBreaker[struct{}]
	openFlag
}

// NewTwoStep is New for a TwoStep.
func NewTwoStep(cfg Config, opts Options) *TwoStep {
	if cfg.Failures < 0 {
		return nil
	}
	b := &TwoStep{}
	b.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](b.settings(cfg, opts))
	return b
}

// Allow asks to make one call. The caller must then report the call's
// error to done, judged as in Breaker.Do. While the breaker refuses calls
// it returns ErrOpen and the caller must not call. Allow allocates done.
func (b *TwoStep) Allow() (done func(error), err error) {
	if b == nil {
		return func(error) {}, nil
	}
	done, err = b.cb.Allow()
	if err != nil {
		return nil, ErrOpen
	}
	return done, nil
}

// State is Breaker.State.
func (b *TwoStep) State() State {
	if b == nil {
		return Disabled
	}
	return stateOf(b.cb.State())
}

// Open is Breaker.Open.
func (b *TwoStep) Open() bool { return b != nil && b.open() }

// openFlag mirrors "open until" outside gobreaker's mutex, so that hot
// paths can skip a dependency known to be down with one atomic load.
type openFlag struct {
	// until is when an open breaker will admit a probe (unix nanoseconds);
	// zero while closed or half-open.
	until atomic.Int64
}

func (f *openFlag) open() bool {
	u := f.until.Load()
	return u != 0 && time.Now().UnixNano() < u
}

func (f *openFlag) openAt(now int64) bool {
	u := f.until.Load()
	return u != 0 && now < u
}

func (f *openFlag) settings(cfg Config, opts Options) gobreaker.Settings {
	if cfg.Failures == 0 || cfg.Cooldown <= 0 {
		// gobreaker would trip on the first failure, or stay open 60s.
		panic("BUG: breaker config without its defaults")
	}
	failures := uint32(cfg.Failures)
	exclude := opts.Exclude
	return gobreaker.Settings{
		Name:        opts.Name,
		MaxRequests: 1,
		Timeout:     cfg.Cooldown,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
		IsExcluded: func(err error) bool {
			return err != nil && (errors.Is(err, context.Canceled) || exclude != nil && exclude(err))
		},
		OnStateChange: func(_ string, from, to gobreaker.State) {
			if to == gobreaker.StateOpen {
				f.until.Store(time.Now().Add(cfg.Cooldown).UnixNano())
			} else {
				f.until.Store(0)
			}
			if opts.OnStateChange != nil {
				opts.OnStateChange(stateOf(from), stateOf(to))
			}
		},
	}
}
