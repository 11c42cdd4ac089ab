package features

import (
	"errors"
	"fmt"
	"strings"
)

// Kind classifies an Error for the edge: the gateway maps it to an HTTP
// status without looking at the message.
type Kind uint8

const (
	// BadRequest: malformed body, unknown views, features, entities or
	// models, wrong types (400).
	BadRequest Kind = iota + 1
	// TooLarge: more entities, refs or rows than the configured limits (413).
	TooLarge
	// NotFound: the model or feature service named in the path is unknown (404).
	NotFound
	// Unavailable: a dependency failed and no fallback was left (503).
	Unavailable
)

var kindNames = [...]string{BadRequest: "bad_request", TooLarge: "too_large", NotFound: "not_found", Unavailable: "unavailable"}

func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Error is the one error type the package returns to its callers' users.
// Code is a stable machine-readable identifier (e.g. "unknown_feature");
// Message is for humans and names every offending input.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Err     error // cause, if any; never shown to clients

	// Feast, when set, is the exception Feast's Python feature server
	// raises for this input (a class of feast.errors, or KeyError), with
	// Message in that exception's words: the Feast endpoint answers it with
	// that server's status and body (features.md, "Feast compatibility").
	Feast string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func (e *Error) Unwrap() error { return e.Err }

// ErrUnavailable is wrapped by every Error of Kind Unavailable.
var ErrUnavailable = errors.New("dependency unavailable")

func errf(kind Kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// feastErr is an Error that Feast's Python server raises as exception
// class cls, with its message.
func feastErr(kind Kind, code, cls, format string, args ...any) *Error {
	e := errf(kind, code, format, args...)
	e.Feast = cls
	return e
}

// problems collects every problem with one input, so that a client fixes
// them in one round trip instead of one per request.
type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

func (p problems) err(kind Kind, code string) error {
	if len(p) == 0 {
		return nil
	}
	return &Error{Kind: kind, Code: code, Message: strings.Join(p, "; ")}
}

// join is p as a config error: one error per problem (errors.Join), so
// that each is a line of its own with its path.
func (p problems) join() error {
	errs := make([]error, len(p))
	for i, msg := range p {
		errs[i] = errors.New(msg)
	}
	return errors.Join(errs...)
}

// KindOf returns the Kind of err if it is (or wraps) an *Error, else 0.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}
