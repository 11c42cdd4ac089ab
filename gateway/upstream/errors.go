package upstream

import (
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tiercel/tiercel/internal/breaker"
)

var (
	// ErrTimeout means the caller's deadline passed before a response
	// arrived; the gateway answers 504.
	ErrTimeout = errors.New("upstream timed out")

	// ErrUnavailable means no target could produce a response: connections
	// refused or reset, targets saturated, or a malformed response; the
	// gateway answers 502.
	ErrUnavailable = errors.New("upstream unavailable")

	// ErrOpen means every target's circuit breaker is open: nothing was
	// sent. It wraps ErrUnavailable, and tells the caller to go straight to
	// its fallback.
	ErrOpen = fmt.Errorf("%w: circuit breaker open", ErrUnavailable)

	// ErrOverloaded means the pool already has max_in_flight requests
	// outstanding: nothing was sent, so that no request queues past its
	// budget. It wraps ErrUnavailable.
	ErrOverloaded = fmt.Errorf("%w: too many requests in flight", ErrUnavailable)

	errClosed = errors.New("pool is closed")
)

// failure classifies one attempt's error by what may be done next.
type failure uint8

const (
	// failTimeout: the deadline passed; nothing more may be tried.
	failTimeout failure = iota + 1
	// failConnect: the connection failed before any response byte (dial
	// error, write error, closed or reset before the status line). The
	// target looks down, and an idempotent request may go elsewhere.
	failConnect
	// failBusy: the target has no free connection. The request was never
	// sent, but a saturated target is not an unhealthy one.
	failBusy
	// failResponse: a response started but was broken or invalid; a retry
	// is not allowed because the upstream saw and answered the request.
	failResponse
	// failOpen: the target's breaker refused the request; nothing was
	// sent, so another target may be tried.
	failOpen
)

func classify(err error, deadline time.Time) failure {
	if err == breaker.ErrOpen {
		return failOpen
	}
	if !time.Now().Before(deadline) {
		return failTimeout
	}
	// fasthttp's own timeouts fire at the deadline itself (checked above),
	// so a timeout with time left is the dial cap: the target did not answer.
	var op *net.OpError
	switch {
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		return failBusy
	case errors.Is(err, fasthttp.ErrConnectionClosed), errors.Is(err, io.EOF),
		errors.Is(err, fasthttp.ErrDialTimeout), errors.Is(err, fasthttp.ErrTimeout):
		return failConnect
	case errors.As(err, &op) && (op.Op == "dial" || op.Op == "write"):
		return failConnect
	}
	return failResponse
}

// retryable reports whether an idempotent request may be sent again.
func (f failure) retryable() bool {
	return f == failConnect || f == failBusy || f == failOpen
}
