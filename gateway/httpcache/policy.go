package httpcache

import (
	"bytes"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// Policy is one route's storage policy: what RFC 9111 §3 lets a shared
// cache store, with the route's defaults where the response is silent.
type Policy struct {
	Defaults
	// Private: the route keys entries on the caller, so a response marked
	// private may be stored (for that caller only).
	Private bool
	// Override: the route's lifetimes replace the response's (max-age,
	// s-maxage, Expires, stale-*); what keeps a cache safe (no-store,
	// private, Set-Cookie, Vary) still holds.
	Override bool
	// StaleWhileRevalidate and StaleIfError are the windows given when the
	// response names none (RFC 5861).
	StaleWhileRevalidate, StaleIfError time.Duration
	// MaxBodyBytes: larger responses are passed on, not stored.
	MaxBodyBytes int
	// KeyedHeaders are the request headers in the key (canonical names): a
	// Vary naming only these (and Accept-Encoding, which fills never send)
	// may be stored.
	KeyedHeaders []string
	// Keep is how long a response with a validator (ETag, Last-Modified) is
	// kept after it can no longer be served, as the base of a conditional
	// request (RFC 9111 §4.3): a 304 then renews it without its body. A
	// no-cache response is stored only this way. 0: not kept.
	Keep time.Duration
	// TargetedFields are the targeted cache-control fields this cache obeys
	// instead of Cache-Control, first match first (RFC 9213), such as
	// CDN-Cache-Control. The caller removes them from what it stores and
	// forwards: they were addressed to this cache.
	TargetedFields []string
}

// Verdict is a Policy's decision on one response.
type Verdict struct {
	// Pass: the response must reach nobody but its own requester
	// (Set-Cookie, no-store, private on a shared route, Vary on an unkeyed
	// header): not stored, not given to coalesced waiters.
	Pass bool
	// Store: it may be stored; Freshness and the windows say for how long.
	Store     bool
	Freshness Freshness
	// StaleWhileRevalidate and StaleIfError extend its life past
	// freshness (RFC 5861); zero under must-revalidate, proxy-revalidate,
	// s-maxage or no-cache, which forbid serving it stale (RFC 9111
	// §5.2.2.2, §5.2.2.8, §5.2.2.10).
	StaleWhileRevalidate, StaleIfError time.Duration
	// Negative marks 404 and 410: a cached absence.
	Negative bool
	// Keep is how long it is kept past its last serving window, to be
	// revalidated (Policy.Keep when it has a validator).
	Keep time.Duration
}

// Evaluate decides whether resp, received in exchange x, may be stored.
func (p *Policy) Evaluate(resp *fasthttp.Response, x Exchange) Verdict {
	var v Verdict
	h := &resp.Header
	d, _, targeted := targetedDirectives(h, p.TargetedFields)
	if !targeted {
		d = ParseDirectives(h.PeekAll(fasthttp.HeaderCacheControl))
	}
	if h.Peek(fasthttp.HeaderSetCookie) != nil || d.NoStore || (d.Private && !p.Private) ||
		!p.varyKeyed(h.PeekAll(fasthttp.HeaderVary)) {
		v.Pass = true
		return v
	}
	status := resp.StatusCode()
	if !storableStatus(status) || len(resp.Body()) > p.MaxBodyBytes {
		return v
	}
	v.Freshness = ComputeFreshness(h, d, x, p.Defaults)
	if HasValidator(h) {
		v.Keep = p.Keep
	}
	if d.NoCache {
		// Storable, but never reused without a successful revalidation
		// (§5.2.2.4): no fresh window, no stale one, only the keep window,
		// and only with a validator to revalidate it by.
		v.Freshness.Lifetime = 0
		v.Store = v.Keep > 0
		return v
	}
	if !v.Freshness.Explicit && !d.Public && !HeuristicallyCacheable(status) {
		return v // §3: no explicit freshness, not cacheable by default
	}
	v.Negative = status == 404 || status == 410
	v.StaleWhileRevalidate, v.StaleIfError = p.StaleWhileRevalidate, p.StaleIfError
	if p.Override {
		v.Freshness.Lifetime = p.TTL
		if NegativeStatus(status) {
			v.Freshness.Lifetime = p.NegativeTTL
		}
	} else {
		if d.StaleWhileRevalidate.valid() {
			v.StaleWhileRevalidate = d.StaleWhileRevalidate.D
		}
		if d.StaleIfError.valid() {
			v.StaleIfError = d.StaleIfError.D
		}
		if d.MustRevalidate || d.SMaxAge.Present {
			v.StaleWhileRevalidate, v.StaleIfError = 0, 0
		}
	}
	// Worth storing only if it can be served from the cache at some time,
	// or revalidated.
	fresh := v.Freshness.Lifetime > v.Freshness.InitialAge
	v.Store = fresh || v.StaleWhileRevalidate > 0 || v.StaleIfError > 0 || v.Keep > 0
	return v
}

// HasValidator reports whether a response can be revalidated: it carries
// an ETag or a Last-Modified (RFC 9110 §8.8).
func HasValidator(h *fasthttp.ResponseHeader) bool {
	return len(h.Peek(fasthttp.HeaderETag)) > 0 || len(h.Peek(fasthttp.HeaderLastModified)) > 0
}

// storableStatus: a final status this cache can store. 206 is not (the
// cache stores whole representations; fills never send Range), nor are
// the error statuses stale-if-error stands in for (RFC 5861 §4: 500, 502,
// 503, 504), which a cache may always decline to store.
func storableStatus(code int) bool {
	switch {
	case code < 200, code == 206, code == 304:
		return false
	case code == 500, code == 502, code == 503, code == 504:
		return false
	}
	return true
}

// varyKeyed reports whether every header the Vary lines name is in the key
// (or is Accept-Encoding, which fills never send: stored responses are
// identity). "*" never is.
func (p *Policy) varyKeyed(lines [][]byte) bool {
	for _, l := range lines {
		for _, f := range bytes.Split(l, []byte{','}) {
			name := string(bytes.TrimSpace(f))
			if name == "" || strings.EqualFold(name, "Accept-Encoding") {
				continue
			}
			if name == "*" || !containsFold(p.KeyedHeaders, name) {
				return false
			}
		}
	}
	return true
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
