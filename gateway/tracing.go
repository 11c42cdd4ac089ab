package gateway

import (
	"bytes"
	"context"
	"time"

	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/tiercel/tiercel/internal/tracing"
)

// tracingShutdownTimeout bounds the export of queued spans at shutdown.
const tracingShutdownTimeout = 5 * time.Second

var (
	hdrTraceparent = []byte("traceparent")
	hdrTracestate  = []byte("tracestate")
	// reqTraceparent is the name as fasthttp normalises it, for
	// PeekCanonical.
	reqTraceparent = []byte("Traceparent")
)

// headerCarrier lets the propagators read and write a fasthttp request
// header. It is one pointer, so as an interface value it allocates
// nothing; Get copies (a string must not alias the pooled header).
type headerCarrier struct{ h *fasthttp.RequestHeader }

var _ propagation.TextMapCarrier = headerCarrier{}

// Get reads every field line of key, joined with commas as RFC 9110
// §5.3 combines them: tracestate and baggage are lists a caller may split
// over several lines (W3C Trace Context §3.3.1.1), and a traceparent sent
// twice joins into a value that does not parse, so the request starts a
// trace of its own rather than trusting one of the two.
func (c headerCarrier) Get(key string) string {
	lines := c.h.PeekAll(key)
	switch len(lines) {
	case 0:
		return ""
	case 1:
		return string(lines[0])
	}
	return string(bytes.Join(lines, []byte(",")))
}

func (c headerCarrier) Set(key, value string) { c.h.Set(key, value) }

func (c headerCarrier) Keys() []string {
	var keys []string
	for k := range c.h.All() {
		keys = append(keys, string(k))
	}
	return keys
}

// startSpan starts the request's server span once it is routed, a child
// of the caller's traceparent, or none when the trace is not sampled.
// Only called with tracing on. A request without a traceparent that the
// ratio drops costs one header lookup: nothing else is read.
func (s *generation) startSpan(ctx *fasthttp.RequestCtx, rt *route, st *reqState) {
	h := &ctx.Request.Header
	fromCaller := len(h.PeekCanonical(reqTraceparent)) > 0
	if !fromCaller && !s.tracer.Sample(trace.SpanContext{}) {
		return
	}
	parent := s.tracer.Propagator.Extract(context.Background(), headerCarrier{h})
	// A traceparent, valid or not, has not been decided on yet.
	if fromCaller && !s.tracer.Sample(trace.SpanContextFromContext(parent)) {
		return
	}
	st.span = s.tracer.StartServer(parent, rt.name, st.started)
}

// endSpan records what finish knows of the request and ends its span.
func (s *generation) endSpan(ctx *fasthttp.RequestCtx, st *reqState, status int) {
	sp := st.span
	st.span = nil
	sp.SetAttributes(
		attribute.String("http.request.method", string(ctx.Method())),
		attribute.String("url.path", string(st.path)),
		attribute.Int("http.response.status_code", status),
		attribute.String("tiercel.request_id", string(st.id)),
	)
	if st.cache != cacheNone {
		sp.SetAttributes(attribute.String("tiercel.cache", st.cache.String()))
	}
	if st.caller != nil {
		if kv, ok := s.tracer.Subject(st.caller.Subject); ok {
			sp.SetAttributes(kv)
		}
	}
	if status >= 500 {
		// Server spans record only 5xx as errors (OpenTelemetry HTTP
		// semantic conventions): a 4xx is the caller's mistake.
		sp.SetStatus(codes.Error, "")
	}
	sp.End()
}

// propagateTo makes h, the request an upstream receives, carry the server
// span as its parent in place of the caller's.
func (st *reqState) propagateTo(h *fasthttp.RequestHeader) {
	sc := st.span.SpanContext()
	st.traceparent = tracing.AppendTraceparent(st.traceparent[:0], sc)
	h.SetBytesKV(hdrTraceparent, st.traceparent)
	if ts := sc.TraceState(); ts.Len() > 0 {
		h.Set("tracestate", ts.String())
	} else {
		h.DelBytes(hdrTracestate)
	}
}
