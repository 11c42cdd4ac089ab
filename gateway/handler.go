package gateway

import (
	"context"
	"errors"
	"log/slog"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/tiercel/tiercel/gateway/auth"
	"github.com/tiercel/tiercel/gateway/ratelimit"
	"github.com/tiercel/tiercel/gateway/router"
	"github.com/tiercel/tiercel/gateway/upstream"
)

// route is a RouteConfig resolved against the running components.
type route struct {
	name     string
	timeout  time.Duration
	authMode string
	scopes   []string
	limit    *ratelimit.Handle
	cluster  bool // the limit is enforced through Redis: needs a context
	pool     *upstream.Pool
	metrics  *routeMetrics
	upDur    prometheus.Observer
	// cache is nil on routes without a cache block.
	cache *routeCache
	// builtin answers instead of an upstream when set.
	builtin builtinHandler
	// invalidates are tags dropped after a successful write on this route.
	invalidates  []template
	upstreamName string
	// fallback is the declared default answer for reads; nil if none.
	fallback *fallbackResponse
	// omitTiming and omitLimit drop Server-Timing and the RateLimit-*
	// headers of admitted requests (RouteHeaders).
	omitTiming, omitLimit bool
}

// reqState is per-request scratch space, pooled so the hot path allocates
// nothing. Nothing in it may outlive the handler call.
type reqState struct {
	params router.Params
	// path is the request path in normal form (reqtarget): what was routed
	// is what is keyed and what the upstream receives. It and params are
	// views of the request target, or of pathBuf when the target was not
	// already normal. query is the target's raw query, nil if none.
	path, query []byte
	pathBuf     []byte
	// uri is the origin-form target sent upstream: path, then query.
	uri []byte
	// args is query parsed, once, by queryArgs: the keyed parameters and
	// the ones a fill sends both come from it.
	args       fasthttp.Args
	argsParsed bool
	id         []byte
	// idFromCaller: id is the client's X-Request-ID, which is never sent
	// on a fill (an origin echoing it would store it for everyone).
	idFromCaller bool
	key          []byte
	num          []byte
	timing       []byte
	started      time.Time
	lap          time.Duration // end of the last timed stage, since started
	timed        bool          // Server-Timing is written: stages read the clock
	limit        ratelimit.Decision
	limited      bool
	// limitText is limitN formatted, kept across requests (see
	// writeLimitHeaders).
	limitN    int
	limitText []byte
	route     int // index into generation.routes; -1 before routing
	ckey      []byte
	scratch   []byte
	cache     cacheLabel
	caller    *auth.Principal
	// admitted is set while the request counts toward server.max_in_flight.
	admitted bool
	// target is the upstream target that answered a proxied request, for
	// the access log; line is the access log line being built.
	target string
	line   []byte
	// span is the request's server span: nil with tracing off or when the
	// trace is not sampled. traceparent is its value as sent upstream.
	span        trace.Span
	traceparent []byte
}

var statePool = sync.Pool{New: func() any {
	return &reqState{id: make([]byte, 0, 64), key: make([]byte, 0, 128), num: make([]byte, 0, 24), uri: make([]byte, 0, 128),
		timing: make([]byte, 0, 128), ckey: make([]byte, 0, 256), scratch: make([]byte, 0, 128)}
}}

func (s *generation) serve(ctx *fasthttp.RequestCtx) {
	st := statePool.Get().(*reqState)
	// fasthttp reads the clock just before calling the handler; a second
	// read here would cost as much as the rate-limit check.
	if st.started = ctx.Time(); st.started.IsZero() {
		st.started = time.Now()
	}
	st.lap, st.timed = 0, true
	st.timing = st.timing[:0]
	st.limited = false
	st.cache = cacheNone
	st.caller = nil
	st.target = ""
	st.id, st.idFromCaller = s.requestID(ctx, st.id[:0])
	st.route = -1
	defer func() {
		if p := recover(); p != nil {
			s.stats.panics.Add(1)
			s.log.Error("panic in request handler", "panic", p, "path", string(ctx.Path()),
				"request_id", string(st.id), "stack", string(debug.Stack()))
			writeError(ctx, errInternal, st.id)
		}
		if st.admitted {
			s.inFlight.Add(-1)
			st.admitted = false
		}
		s.finish(ctx, st)
		st.params.Reset()
		st.path, st.query = nil, nil
		st.argsParsed = false
		st.caller = nil
		statePool.Put(st)
	}()

	rt, deadline, ok := s.admit(ctx, st)
	if !ok {
		return
	}
	if s.maxInFlight > 0 {
		st.admitted = true
		if s.inFlight.Add(1) > s.maxInFlight {
			s.shed(ctx, rt, st)
			return
		}
	}
	if rt.builtin != nil {
		rt.builtin(s, ctx, st, deadline)
		return
	}
	if rt.cache != nil {
		if ctx.IsGet() || ctx.IsHead() {
			s.serveCached(ctx, rt, st, st.caller, deadline)
			return
		}
		s.bypass(ctx, rt, st, deadline)
		return
	}
	s.proxy(ctx, rt, st, deadline)
}

// admit routes, authenticates and rate-limits the request: the checks every
// request pays before any cache or upstream work. On false the response is
// already written. With a cached token and an existing rate-limit bucket it
// allocates nothing.
func (s *generation) admit(ctx *fasthttp.RequestCtx, st *reqState) (*route, time.Time, bool) {
	if !validHost(ctx.Request.Header.Host()) {
		writeError(ctx, errBadHost, st.id)
		return nil, time.Time{}, false
	}
	path, query, buf, err := s.targets.Parse(st.pathBuf[:0], ctx.Request.Header.RequestURI())
	st.pathBuf = buf
	if err != nil {
		writeError(ctx, targetError(err), st.id)
		return nil, time.Time{}, false
	}
	st.path, st.query = path, query
	idx, allow, err := s.router.Match(ctx.Method(), path, &st.params)
	if err != nil {
		if errors.Is(err, router.ErrMethodNotAllowed) {
			writeError(ctx, errMethodNotAllowed, st.id)
			ctx.Response.Header.Set("Allow", allow)
			return nil, time.Time{}, false
		}
		writeError(ctx, errNotFound, st.id)
		return nil, time.Time{}, false
	}
	rt := s.routes[idx]
	st.route = idx
	st.timed = !rt.omitTiming
	if s.tracer != nil {
		s.startSpan(ctx, rt, st)
	}
	deadline := st.started.Add(rt.timeout)
	p, e := s.authenticate(ctx, rt, st, deadline)
	if e != nil {
		writeError(ctx, e, st.id)
		if e.Status == fasthttp.StatusUnauthorized {
			ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="tiercel", error="invalid_token"`)
		}
		return rt, deadline, false
	}
	st.caller = p
	if rt.limit != nil && !s.rateLimit(ctx, rt, p, st, deadline) {
		return rt, deadline, false
	}
	return rt, deadline, true
}

// authenticate applies the route's auth policy. A nil principal with a nil
// error is an anonymous caller on an optional or open route.
func (s *generation) authenticate(ctx *fasthttp.RequestCtx, rt *route, st *reqState, deadline time.Time) (*auth.Principal, *Error) {
	if rt.authMode == authNone {
		return nil, nil
	}
	defer st.stage("auth")
	hdr := ctx.Request.Header.PeekCanonical(reqAuthorization)
	if len(hdr) == 0 && rt.authMode == authOptional {
		return nil, nil
	}
	p, err := s.verifier.VerifyBearer(hdr, deadline)
	if err != nil {
		return nil, authError(err)
	}
	if !p.HasScopes(rt.scopes) {
		s.stats.scopeDenied.Add(1)
		return nil, errForbidden
	}
	return p, nil
}

// authError turns a verification failure into a 401 whose code names the
// reason, so clients can tell an expired token from a forged one.
func authError(err error) *Error {
	var ae *auth.Error
	code := "invalid_token"
	if errors.As(err, &ae) {
		code = ae.Reason.String()
	}
	return &Error{fasthttp.StatusUnauthorized, code, unauthorizedMessage(code)}
}

func unauthorizedMessage(code string) string {
	switch code {
	case "missing":
		return "an Authorization: Bearer token is required"
	case "expired":
		return "the token has expired"
	case "not_yet_valid":
		return "the token is not valid yet"
	case "keys_stale":
		return "the issuer's signing keys could not be refreshed for too long (jwks_max_stale); try again later"
	default:
		return "the token was rejected (" + code + ")"
	}
}

// rateLimit answers 429 and returns false when the caller is over its limit.
// The decision is kept in st: finish writes the RateLimit-* headers, after
// the upstream's response has replaced ours.
func (s *generation) rateLimit(ctx *fasthttp.RequestCtx, rt *route, p *auth.Principal, st *reqState, deadline time.Time) bool {
	t0 := st.started.Add(st.lap)
	st.key = appendLimitKey(st.key[:0], rt.limit.KeyKind(), p, ctx)
	tier := ""
	if p != nil {
		tier = p.Plan
	}
	if rt.cluster {
		c, cancel := context.WithDeadline(context.Background(), deadline)
		st.limit = rt.limit.AllowCtx(c, t0, st.key, tier)
		cancel()
	} else {
		st.limit = rt.limit.Allow(t0, st.key, tier)
	}
	st.limited = true
	st.stage("limit")
	if st.limit.Allowed {
		return true
	}
	writeError(ctx, errRateLimited, st.id)
	st.num = strconv.AppendInt(st.num[:0], ceilSeconds(st.limit.RetryAfter), 10)
	ctx.Response.Header.SetCanonical(hdrRetryAfter, st.num)
	return false
}

func (st *reqState) writeLimitHeaders(h *fasthttp.ResponseHeader) {
	// A policy's limit seldom changes from one request to the next, and
	// formatting 100000000 cost as much as the header it goes in.
	if st.limit.Limit != st.limitN || st.limitText == nil {
		st.limitN = st.limit.Limit
		st.limitText = strconv.AppendInt(st.limitText[:0], int64(st.limitN), 10)
	}
	h.SetCanonical(hdrRateLimitLimit, st.limitText)
	st.num = strconv.AppendInt(st.num[:0], int64(st.limit.Remaining), 10)
	h.SetCanonical(hdrRateLimitRemaining, st.num)
	st.num = strconv.AppendInt(st.num[:0], ceilSeconds(st.limit.Reset), 10)
	h.SetCanonical(hdrRateLimitReset, st.num)
}

// appendLimitKey builds the bucket key. Prefixes keep a subject named like
// an IP address from sharing an IP's bucket.
func appendLimitKey(dst []byte, kind string, p *auth.Principal, ctx *fasthttp.RequestCtx) []byte {
	switch {
	case kind == "tenant" && p != nil && p.Tenant != "":
		return append(append(dst, "t:"...), p.Tenant...)
	case kind == "subject" && p != nil && p.Subject != "":
		return append(append(dst, "s:"...), p.Subject...)
	}
	return append(append(dst, "ip:"...), ctx.RemoteIP()...)
}

func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// queryArgs is the request's query, parsed from the same bytes the
// upstream receives.
func (st *reqState) queryArgs() *fasthttp.Args {
	if !st.argsParsed {
		st.args.ParseBytes(st.query)
		st.argsParsed = true
	}
	return &st.args
}

// upstreamURI is the target the upstream receives: the routed path in
// normal form and the client's query as sent.
func (st *reqState) upstreamURI() []byte {
	st.uri = append(st.uri[:0], st.path...)
	if st.query != nil {
		st.uri = append(append(st.uri, '?'), st.query...)
	}
	return st.uri
}

// proxy answers with the upstream's response, and reports whether the
// route's fallback answered instead.
func (s *generation) proxy(ctx *fasthttp.RequestCtx, rt *route, st *reqState, deadline time.Time) (fellBack bool) {
	if st.caller != nil && len(ctx.Request.Header.PeekAll(fasthttp.HeaderAuthorization)) > 1 {
		// Not a list field: the token checked (the first line) would not be
		// the one an origin reading the last line trusts. Only a forwarded
		// request carries the lines on; a fill sends the checked one.
		writeError(ctx, errDuplicateAuthorization, st.id)
		return false
	}
	if st.span != nil {
		st.propagateTo(&ctx.Request.Header)
	}
	res, err := rt.pool.Proxy(ctx, st.upstreamURI(), deadline, st.id)
	st.target = res.Target
	st.timing = appendTiming(st.timing, "origin", res.Duration)
	if res.Attempts > 0 {
		rt.upDur.Observe(res.Duration.Seconds())
	}
	if err == nil {
		if rt.cache != nil {
			// Fields addressed to this cache (RFC 9213) stop here, on the
			// route's answers that bypass it too.
			for _, name := range rt.cache.policy.TargetedFields {
				ctx.Response.Header.Del(name)
			}
		}
		if ctx.Response.StatusCode() >= 500 && s.serveFallback(ctx, rt, st) {
			return true
		}
		s.invalidateAfterWrite(ctx, rt, st, deadline)
		return false
	}
	if !quietUpstreamError(err) && s.log.Enabled(context.Background(), slog.LevelWarn) {
		s.log.Warn("upstream request failed", "route", rt.name, "target", res.Target,
			"attempts", res.Attempts, "error", err.Error(), "request_id", string(st.id))
	}
	if s.serveFallback(ctx, rt, st) {
		return true
	}
	writeError(ctx, upstreamError(err), st.id)
	return false
}

// finish writes the request's own headers, then records its metrics and
// access log line.
func (s *generation) finish(ctx *fasthttp.RequestCtx, st *reqState) {
	ri := st.route
	elapsed := time.Since(st.started)
	omitLimit := ri >= 0 && s.routes[ri].omitLimit
	st.writeRequestHeaders(&ctx.Response.Header, elapsed, omitLimit)
	// fasthttp's CloseOnShutdown does this too, but only while
	// ShutdownWithContext runs; during the drain delay connections stay
	// open: balancers and clients keep them until they stop sending.
	if s.closing.Load() {
		ctx.SetConnectionClose()
	}
	status := ctx.Response.StatusCode()
	if ri >= 0 {
		s.routes[ri].metrics.observe(status, st.cache, elapsed)
	} else {
		s.unrouted.observe(status, cacheNone, elapsed)
	}
	if s.access != accessOff {
		s.logAccess(ctx, st, status, elapsed)
	}
	if st.span != nil {
		s.endSpan(ctx, st, status)
	}
}

// writeRequestHeaders writes the headers that describe the request rather
// than its answer. They are written last, over whichever answer it got:
// an upstream's response and writeError replace every header before them.
// Who decides each:
//
//   - Server-Timing: each stage appends its time as it ends (st.stage,
//     serveCached, proxy); total, known only now, closes it; absent on
//     routes that omit it (st.timed, from admit);
//   - X-Request-ID: requestID, before routing;
//   - RateLimit-*: rateLimit's decision, on a 429 and on admitted requests
//     of routes that do not omit them (Retry-After goes with the 429,
//     written by rateLimit).
//
// The cache's headers (X-Cache, Cache-Status, Age) are not among them: the
// code that decides how a response is served writes them with it
// (reqState.served).
func (st *reqState) writeRequestHeaders(h *fasthttp.ResponseHeader, total time.Duration, omitLimit bool) {
	if st.timed {
		st.timing = appendTiming(st.timing, "total", total)
		h.SetCanonical(hdrServerTiming, st.timing)
	}
	h.SetCanonical(hdrRequestID, st.id)
	if st.limited && (!st.limit.Allowed || !omitLimit) {
		st.writeLimitHeaders(h)
	}
}

// stage ends a timed stage: one monotonic clock read per stage (time.Since
// reads half the clocks time.Now does), the time since the previous stage
// ended.
func (st *reqState) stage(name string) {
	if !st.timed {
		return
	}
	now := time.Since(st.started)
	st.timing = appendTiming(st.timing, name, now-st.lap)
	st.lap = now
}

// appendTiming appends one Server-Timing metric in milliseconds with
// microsecond precision, formatted with integer arithmetic (float
// formatting cost more than the cache lookup it reports).
func appendTiming(b []byte, name string, d time.Duration) []byte {
	if len(b) > 0 {
		b = append(b, ", "...)
	}
	b = append(b, name...)
	b = append(b, ";dur="...)
	us := max(d.Microseconds(), 0)
	b = strconv.AppendInt(b, us/1000, 10)
	frac := us % 1000
	return append(b, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
}

// requestID propagates a well-formed X-Request-ID (fromCaller) or makes a
// new one.
func (s *Server) requestID(ctx *fasthttp.RequestCtx, dst []byte) (id []byte, fromCaller bool) {
	if id := ctx.Request.Header.PeekCanonical(reqRequestID); validRequestID(id) {
		return append(dst, id...), true
	}
	return s.ids.appendNew(dst), false
}

// handleServerError answers fasthttp's own errors (bad request line, body
// over the limit, read timeouts) in the JSON error shape.
func (s *Server) handleServerError(ctx *fasthttp.RequestCtx, err error) {
	id := s.ids.appendNew(nil)
	var e *Error
	var small *fasthttp.ErrSmallBuffer
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		e = errBodyTooLarge
	case errors.As(err, &small):
		e = errHeaderTooLarge
	default:
		e = errBadRequest
	}
	s.stats.badRequests.Add(1)
	writeError(ctx, e, id)
	ctx.Response.SetConnectionClose()
}
