package gateway

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/valyala/fasthttp"

	"github.com/tiercel/tiercel/cache"
	"github.com/tiercel/tiercel/gateway/auth"
	"github.com/tiercel/tiercel/gateway/httpcache"
	"github.com/tiercel/tiercel/internal/tracing"
)

// newRouteCache compiles a route's cache block; kept is
// auth.Config.KeepClaims (keptClaims of every route).
func newRouteCache(name string, cfg RouteCache, kept []string) *routeCache {
	return &routeCache{cfg: cfg, routeName: name, claims: compileKeyClaims(cfg.Key.Claims, kept), policy: cfg.policy()}
}

// routeCache is a route's compiled cache block.
type routeCache struct {
	cfg       RouteCache
	routeName string
	tags      []template
	// claims identify the caller on a private route (cfg.Key.Claims).
	claims []keyClaim
	// policy decides what is stored and for how long (RFC 9111).
	policy httpcache.Policy
}

// serveCached answers a GET or HEAD on a cached route: a fresh L1 hit is
// written straight from the entry (no allocation); everything else goes
// through Tiered.Fetch (L2, coalesced fill, stale windows).
func (s *generation) serveCached(ctx *fasthttp.RequestCtx, rt *route, st *reqState, p *auth.Principal, deadline time.Time) {
	rc := rt.cache
	if !rc.keyable(p) {
		s.bypass(ctx, rt, st, deadline)
		return
	}
	st.ckey = rc.appendCacheKey(st.ckey[:0], &ctx.Request.Header, st, p)
	now := st.started
	if s.pass.has(st.ckey, now) {
		s.bypass(ctx, rt, st, deadline)
		return
	}
	var rd *httpcache.RequestDirectives
	if rc.cfg.RequestDirectives == requestDirectivesHonor {
		if rd = httpcache.RequestDirectivesOf(&ctx.Request.Header); rd != nil && s.serveRequestDirectives(ctx, rt, st, deadline, rd) {
			return
		}
	}
	e, fr, ok := s.cache.Get(st.ckey, now)
	if ok && fr == cache.Fresh && (rd == nil || rd.Acceptable(now, e.StoredAt, e.FreshUntil)) {
		st.stage("l1")
		s.writeEntry(ctx, st, e, cacheHitL1, now)
		return
	}
	// Miss, stale or expired: the fill, which may outlive this handler, is
	// copied out of the request only if the cache needs one (not on an L2
	// hit), and before Fetch returns.
	fm := fillMakers.Get().(*fillMaker)
	fm.s, fm.ctx, fm.rt, fm.st, fm.p = s, ctx, rt, st, p
	res, err := s.cache.Fetch(context.Background(), cache.Request{
		Key: st.ckey, Tags: rc.renderTags(&st.params, st.path), Now: now, Deadline: deadline,
		FillTimeout: rt.timeout, MakeFill: fm.make, L1Missed: !ok,
	})
	made := fm.made
	*fm = fillMaker{make: fm.make}
	fillMakers.Put(fm)
	st.timing = appendTiming(st.timing, "l1", res.L1)
	if res.L2 > 0 {
		st.timing = appendTiming(st.timing, "l2", res.L2)
	}
	if res.Fill > 0 {
		st.timing = appendTiming(st.timing, "origin", res.Fill)
	}
	if err == nil {
		// Age as of now, not of the request's start: a miss's entry is
		// younger than the request that waited for it (RFC 9111 §4.2.3).
		t := time.Now()
		if rd != nil && !rd.Acceptable(t, res.Entry.StoredAt, res.Entry.FreshUntil) && res.Outcome != cache.OutcomeMiss && res.Outcome != cache.OutcomeRevalidated {
			// Older or staler than the client accepts (RFC 9111 §5.2.1):
			// the origin's own answer, for this request only.
			s.bypass(ctx, rt, st, deadline)
			return
		}
		s.writeEntry(ctx, st, res.Entry, labelOf(res.Outcome), t)
		return
	}
	var fe *fillError
	switch {
	case errors.As(err, &fe) && fe.pass:
		// Not shareable (Set-Cookie, no-store, ...): remember it for a
		// while. The request whose fill it answered gets it: one client
		// request, one origin request. Coalesced waiters fetch their own.
		s.pass.add(st.ckey, now.Add(rc.cfg.HitForPass))
		if made != nil && fe.by == made && fe.full != nil {
			fe.full.CopyTo(&ctx.Response)
			st.served(&ctx.Response.Header, cacheMiss, st.cacheStatus("fwd=uri-miss; detail=not-shareable"))
			return
		}
		s.bypass(ctx, rt, st, deadline)
	case errors.As(err, &fe) && fe.resp != nil:
		// The upstream answered, with something not to be stored (a 5xx,
		// a status that is not cacheable, a body over max_body_bytes):
		// every waiter gets that answer, or the route's fallback instead
		// of a 5xx.
		if fe.err != nil && s.serveFallback(ctx, rt, st) {
			return
		}
		if sr, werr := httpcache.DecodeStored(fe.resp); werr != nil {
			writeError(ctx, errInternal, st.id)
		} else {
			sr.WriteTo(&ctx.Response)
		}
		st.served(&ctx.Response.Header, cacheMiss, st.cacheStatus("fwd=uri-miss"))
	default:
		// Timeout, unreachable, open breaker, shed: nothing stale was left
		// inside its error window (Fetch would have served it).
		if s.serveFallback(ctx, rt, st) {
			return
		}
		writeError(ctx, upstreamError(err), st.id)
		st.served(&ctx.Response.Header, cacheMiss, nil)
	}
}

// writeEntry answers with a stored response plus the cache's headers.
func (s *generation) writeEntry(ctx *fasthttp.RequestCtx, st *reqState, e *cache.Entry, label cacheLabel, now time.Time) {
	ctx.Response.Reset()
	sr, err := storedOf(e)
	if err != nil {
		s.log.Error("stored response is corrupt", "error", err.Error(), "request_id", string(st.id))
		writeError(ctx, errInternal, st.id)
		return
	}
	sr.WriteTo(&ctx.Response)
	h := &ctx.Response.Header
	if httpcache.NotModified(&ctx.Request.Header, h) {
		httpcache.WriteNotModified(&ctx.Response)
	}
	answerRange(ctx, st)
	// RFC 9111 §5.1: an age beyond 2^31 seconds is sent as 2^31.
	age := min(max(now.Sub(e.StoredAt), 0)/time.Second, 1<<31)
	st.num = strconv.AppendInt(st.num[:0], int64(age), 10)
	h.SetCanonical(hdrAge, st.num)
	ttl := int64(e.FreshUntil.Sub(now) / time.Second)
	st.scratch = append(st.scratch[:0], "tiercel; "...)
	switch label {
	case cacheMiss:
		st.scratch = append(st.scratch, "fwd=uri-miss; stored; ttl="...)
	case cacheRevalidated:
		st.scratch = append(st.scratch, "fwd=stale; fwd-status=304; stored; ttl="...)
	default:
		st.scratch = append(st.scratch, "hit; ttl="...)
	}
	st.scratch = strconv.AppendInt(st.scratch, ttl, 10)
	switch label {
	case cacheHitL2:
		st.scratch = append(st.scratch, "; detail=l2"...)
	case cacheStale:
		st.scratch = append(st.scratch, "; fwd=stale"...)
	}
	st.served(h, label, st.scratch)
}

// fillError carries what a fill learnt when it has no entry to store.
type fillError struct {
	pass bool // the response must not be shared: each requester fetches its own
	// full is a pass response as received (hop-by-hop headers aside), for
	// the one request whose fill (by) got it.
	full *fasthttp.Response
	by   *fill
	resp []byte // a stored-form response to give the waiters (not stored)
	err  error
}

func (e *fillError) Error() string {
	if e.err != nil {
		return e.err.Error()
	}
	return fmt.Sprintf("upstream response not stored (pass=%v)", e.pass)
}

func (e *fillError) Unwrap() error { return e.err }

// fill is one miss's upstream request, built only from the keyed parts of
// the client's request (path, keyed query parameters and headers, the
// caller's credentials on private routes), so that nothing outside the key
// can change what is stored.
type fill struct {
	s         *generation
	rt        *route
	uri       []byte
	headers   [][2][]byte
	auth      []byte
	requestID []byte
	// traceparent and tracestate make the origin's span a child of the
	// request's that made the fill; never part of the key: they change
	// per request, not what the answer is.
	traceparent []byte
	tracestate  string
}

// fillMaker makes a miss's fill from the request being served, for
// cache.Request.MakeFill. Pooled, and cleared before it goes back: the
// cache calls make only during Fetch.
type fillMaker struct {
	s    *generation
	ctx  *fasthttp.RequestCtx
	rt   *route
	st   *reqState
	p    *auth.Principal
	make func() cache.FillFunc // fm.fill, bound once: passing it allocates nothing
	// made is the fill make made, if any: the answer to this request.
	made *fill
}

var fillMakers = sync.Pool{New: func() any {
	fm := &fillMaker{}
	fm.make = fm.fill
	return fm
}}

func (fm *fillMaker) fill() cache.FillFunc {
	fm.made = fm.s.newFill(fm.ctx, fm.rt, fm.st, fm.p)
	return fm.made.fill
}

func (s *generation) newFill(ctx *fasthttp.RequestCtx, rt *route, st *reqState, p *auth.Principal) *fill {
	rc := rt.cache
	f := &fill{s: s, rt: rt}
	if st.idFromCaller {
		// The answer is stored for everyone: the origin sees the gateway's
		// own id, never a value the caller chose (which an origin echoing it
		// would put in a shared entry). The debug line ties the two.
		f.requestID = s.ids.appendNew(nil)
		s.log.Debug("cache fill", "route", rt.name, "request_id", string(st.id), "fill_request_id", string(f.requestID))
	} else {
		f.requestID = append([]byte(nil), st.id...)
	}
	f.uri = append(f.uri, st.path...)
	if len(rc.cfg.Key.Query) > 0 {
		args := st.queryArgs()
		var q fasthttp.Args
		for _, name := range rc.cfg.Key.Query {
			if v := args.Peek(name); v != nil || args.Has(name) {
				q.AddBytesV(name, v)
			}
		}
		if q.Len() > 0 {
			f.uri = append(append(f.uri, '?'), q.QueryString()...)
		}
	}
	for _, list := range [2][]string{rc.cfg.Key.Headers, rc.cfg.Key.ForwardHeaders} {
		for _, name := range list {
			// Every field line, as the one value the key holds.
			if lines := ctx.Request.Header.PeekAll(name); len(lines) > 0 {
				f.headers = append(f.headers, [2][]byte{[]byte(name), httpcache.AppendFieldValue(nil, lines)})
			}
		}
	}
	if rc.cfg.Key.Private && p != nil {
		f.auth = append([]byte(nil), ctx.Request.Header.Peek(fasthttp.HeaderAuthorization)...)
	}
	if st.span != nil {
		sc := st.span.SpanContext()
		f.traceparent = tracing.AppendTraceparent(nil, sc)
		f.tracestate = sc.TraceState().String()
	}
	return f
}

// fill asks the upstream for the keyed request, conditionally when old (an
// entry the cache may revalidate) has validators (RFC 9111 §4.3.1): a 304
// then renews old's response without its body crossing the network.
func (f *fill) fill(ctx context.Context, _ []byte, old *cache.Entry) (*cache.Entry, error) {
	req, got := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(got)
	resp := got
	req.Header.SetMethod(fasthttp.MethodGet)
	req.SetRequestURIBytes(f.uri)
	for _, h := range f.headers {
		req.Header.SetBytesKV(h[0], h[1])
	}
	if f.auth != nil {
		req.Header.SetBytesV(fasthttp.HeaderAuthorization, f.auth)
	}
	req.Header.SetBytesV(headerRequestID, f.requestID)
	if f.traceparent != nil {
		req.Header.SetBytesKV(hdrTraceparent, f.traceparent)
		if f.tracestate != "" {
			req.Header.Set("tracestate", f.tracestate)
		}
	}
	base := revalidationBase(old)
	if base != nil {
		base.AddConditions(&req.Header)
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(f.rt.timeout)
	}
	start := time.Now()
	res, err := f.rt.pool.Do(req, resp, deadline, true)
	if res.Attempts > 0 {
		f.rt.upDur.Observe(time.Since(start).Seconds())
	}
	if err != nil {
		return nil, fmt.Errorf("cannot fill from upstream %s: %w", f.rt.upstreamName, err)
	}
	// RFC 9111 §4.2.3's request_time and response_time.
	x := httpcache.Exchange{RequestTime: start, ResponseTime: time.Now()}
	revalidated := false
	if base != nil && resp.StatusCode() == fasthttp.StatusNotModified {
		if resp, err = base.Updated(resp); err != nil {
			return nil, err
		}
		revalidated = true
	}
	v := f.rt.cache.policy.Evaluate(resp, x)
	for _, name := range f.rt.cache.policy.TargetedFields {
		resp.Header.Del(name) // addressed to this cache (RFC 9213): not passed on
	}
	if v.Pass {
		full := &fasthttp.Response{}
		resp.CopyTo(full)
		return nil, &fillError{pass: true, full: full, by: f}
	}
	value := httpcache.EncodeResponse(nil, resp, v.Freshness)
	if !v.Store {
		if resp.StatusCode() >= 500 {
			return nil, &fillError{resp: value, err: fmt.Errorf("upstream %s answered %d", f.rt.upstreamName, resp.StatusCode())}
		}
		return nil, &fillError{resp: value}
	}
	// Stored as generated InitialAge before it arrived: Age counts from
	// there (RFC 9111 §4.2.3), and freshness ends Lifetime after it.
	gen := v.Freshness.Generated(x)
	e := &cache.Entry{Value: value, StoredAt: gen, FreshUntil: v.Freshness.FreshUntil(x), Negative: v.Negative}
	if v.StaleWhileRevalidate > 0 {
		e.StaleUntil = e.FreshUntil.Add(v.StaleWhileRevalidate)
	}
	if v.StaleIfError > 0 {
		e.ErrorUntil = e.FreshUntil.Add(v.StaleIfError)
	}
	if v.Keep > 0 {
		e.KeepUntil = later(e.FreshUntil, e.StaleUntil, e.ErrorUntil).Add(v.Keep)
	}
	e.Revalidated = revalidated
	return e, nil
}

// revalidationBase is old's stored response when it can be revalidated
// (it has an ETag or a Last-Modified), else nil.
func revalidationBase(old *cache.Entry) *httpcache.Stored {
	if old == nil {
		return nil
	}
	sr, err := storedOf(old)
	if err != nil {
		return nil
	}
	if !sr.Revalidatable() {
		return nil
	}
	return sr
}

func later(ts ...time.Time) time.Time {
	var out time.Time
	for _, t := range ts {
		if t.After(out) {
			out = t
		}
	}
	return out
}

// passSet remembers keys whose responses were not storable ("hit for
// pass"), bounded; a hash collision only costs a bypass, never a wrong
// answer.
type passSet struct {
	n  atomic.Int64
	mu sync.Mutex
	m  map[uint64]int64 // key hash → until (unix nanos)
}

const maxPassKeys = 10000

func (p *passSet) has(key []byte, now time.Time) bool {
	if p.n.Load() == 0 {
		return false
	}
	h := xxhash.Sum64(key)
	p.mu.Lock()
	until, ok := p.m[h]
	if ok && until < now.UnixNano() {
		delete(p.m, h)
		p.n.Add(-1)
		ok = false
	}
	p.mu.Unlock()
	return ok
}

func (p *passSet) add(key []byte, until time.Time) {
	h := xxhash.Sum64(key)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[uint64]int64{}
	}
	if len(p.m) >= maxPassKeys {
		now := time.Now().UnixNano()
		for k, u := range p.m {
			if u < now || len(p.m) >= maxPassKeys {
				delete(p.m, k)
			}
		}
	}
	p.m[h] = until.UnixNano()
	p.n.Store(int64(len(p.m)))
}
