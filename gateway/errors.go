package gateway

import (
	"context"
	"errors"

	"github.com/tiercel/tiercel/gateway/reqtarget"
	"github.com/tiercel/tiercel/gateway/upstream"
	"github.com/tiercel/tiercel/internal/jsonstr"
	"github.com/valyala/fasthttp"
)

// Error is the one error type that reaches a client: it carries the HTTP
// status and a stable machine-readable code next to a human message.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errors the gateway answers with. Their Message is safe to show a client.
var (
	errNotFound               = &Error{fasthttp.StatusNotFound, "not_found", "no route matches the request path"}
	errMethodNotAllowed       = &Error{fasthttp.StatusMethodNotAllowed, "method_not_allowed", "the route does not accept this method"}
	errBodyTooLarge           = &Error{fasthttp.StatusRequestEntityTooLarge, "body_too_large", "the request body exceeds the size limit"}
	errHeaderTooLarge         = &Error{fasthttp.StatusRequestHeaderFieldsTooLarge, "headers_too_large", "the request headers exceed the size limit"}
	errBadRequest             = &Error{fasthttp.StatusBadRequest, "bad_request", "the request could not be parsed"}
	errBadHost                = &Error{fasthttp.StatusBadRequest, "bad_host", "the Host header is not a valid host[:port]"}
	errDuplicateAuthorization = &Error{fasthttp.StatusBadRequest, "bad_request", "more than one Authorization header"}
	errBadTarget              = &Error{fasthttp.StatusBadRequest, "bad_target", "the request target must be a path (or an absolute http URI) without control bytes or a fragment"}
	errBadEscape              = &Error{fasthttp.StatusBadRequest, "bad_path", "the path has a malformed percent-encoding"}
	errEscapedSlash           = &Error{fasthttp.StatusBadRequest, "bad_path", "the path contains an encoded slash (%2F), an encoded backslash (%5C) or a backslash"}
	errDotParam               = &Error{fasthttp.StatusBadRequest, "bad_path", "the path has a dot segment with a parameter (\"..;\")"}
	errForbidden              = &Error{fasthttp.StatusForbidden, "insufficient_scope", "the token lacks a scope this route requires"}
	errRateLimited            = &Error{fasthttp.StatusTooManyRequests, "rate_limited", "too many requests; retry after the Retry-After delay"}
	errUpstreamTimeout        = &Error{fasthttp.StatusGatewayTimeout, "upstream_timeout", "the upstream did not answer within the route's budget"}
	errUpstreamDown           = &Error{fasthttp.StatusBadGateway, "upstream_unavailable", "the upstream could not be reached"}
	errUpstreamOpen           = &Error{fasthttp.StatusServiceUnavailable, "upstream_circuit_open", "the upstream is failing; requests are held back until it recovers"}
	errUpstreamBusy           = &Error{fasthttp.StatusServiceUnavailable, "upstream_overloaded", "the upstream has too many requests in flight"}
	errOverloaded             = &Error{fasthttp.StatusServiceUnavailable, "overloaded", "the gateway is at its in-flight request limit; retry shortly"}
	errInternal               = &Error{fasthttp.StatusInternalServerError, "internal", "internal error; it has been logged"}
)

// upstreamError is the answer for a failed upstream call (or a fill).
func upstreamError(err error) *Error {
	switch {
	case errors.Is(err, upstream.ErrOpen):
		return errUpstreamOpen
	case errors.Is(err, upstream.ErrOverloaded):
		return errUpstreamBusy
	case errors.Is(err, upstream.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return errUpstreamTimeout
	}
	return errUpstreamDown
}

// quietUpstreamError reports failures that are counted but not logged one
// by one: during an outage they come at the request rate.
func quietUpstreamError(err error) bool {
	return errors.Is(err, upstream.ErrOpen) || errors.Is(err, upstream.ErrOverloaded)
}

// writeError answers with e as {"error":{"code","message","request_id"}}.
// It replaces whatever the response held, headers included, but keeps the
// request ID header.
func writeError(ctx *fasthttp.RequestCtx, e *Error, requestID []byte) {
	resp := &ctx.Response
	resp.Reset()
	resp.SetStatusCode(e.Status)
	resp.Header.SetContentType("application/json")
	resp.Header.Set("Cache-Control", "no-store")
	if len(requestID) > 0 {
		resp.Header.SetBytesV(headerRequestID, requestID)
	}
	resp.SetBodyRaw(appendErrorBody(resp.Body()[:0], e, requestID))
}

func appendErrorBody(b []byte, e *Error, requestID []byte) []byte {
	b = append(b, `{"error":{"code":`...)
	b = jsonstr.Append(b, e.Code)
	b = append(b, `,"message":`...)
	b = jsonstr.Append(b, e.Message)
	if len(requestID) > 0 {
		b = append(b, `,"request_id":`...)
		b = jsonstr.Append(b, requestID)
	}
	return append(b, "}}\n"...)
}

// targetError maps a request target reqtarget refused to its 400.
func targetError(err error) *Error {
	switch {
	case errors.Is(err, reqtarget.ErrBadEscape):
		return errBadEscape
	case errors.Is(err, reqtarget.ErrEscapedSlash):
		return errEscapedSlash
	case errors.Is(err, reqtarget.ErrDotParam):
		return errDotParam
	}
	return errBadTarget
}
