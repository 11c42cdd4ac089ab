package gateway

import (
	"bytes"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// cacheControl is the part of a response's Cache-Control a shared cache
// acts on.
type cacheControl struct {
	noStore, noCache, private, mustRevalidate bool
	maxAge, sMaxAge, swr, sie                 time.Duration
	hasMaxAge, hasSMaxAge, hasSWR, hasSIE     bool
}

// parseCacheControl reads one Cache-Control value.
func parseCacheControl(v []byte) cacheControl {
	var cc cacheControl
	cc.parse(v)
	return cc
}

// parseCacheControlLines reads a Cache-Control sent as several field lines
// as the one list they make (RFC 9110 §5.3): a no-store on the second line
// counts as much as one on the first.
func parseCacheControlLines(lines [][]byte) cacheControl {
	var cc cacheControl
	for _, l := range lines {
		cc.parse(l)
	}
	return cc
}

// parse adds the directives of v to cc. A lifetime given twice with two
// values makes the response stale (RFC 9111 §4.2.1: "either the first
// occurrence should be used or the response should be considered stale";
// stale is the reading that cannot serve what the origin meant to expire).
func (cc *cacheControl) parse(v []byte) {
	for len(v) > 0 {
		var d []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			d, v = v[:i], v[i+1:]
		} else {
			d, v = v, nil
		}
		d = bytes.TrimSpace(d)
		name, val := d, []byte(nil)
		if i := bytes.IndexByte(d, '='); i >= 0 {
			name, val = bytes.TrimSpace(d[:i]), bytes.Trim(bytes.TrimSpace(d[i+1:]), `"`)
		}
		switch string(bytes.ToLower(name)) {
		case "no-store":
			cc.noStore = true
		case "no-cache":
			// A qualified no-cache="Set-Cookie" names fields; treating it as
			// plain no-cache is the safe reading.
			cc.noCache = true
		case "private":
			cc.private = true
		case "must-revalidate", "proxy-revalidate":
			cc.mustRevalidate = true
		case "max-age":
			setLifetime(&cc.maxAge, &cc.hasMaxAge, val)
		case "s-maxage":
			setLifetime(&cc.sMaxAge, &cc.hasSMaxAge, val)
		case "stale-while-revalidate":
			setLifetime(&cc.swr, &cc.hasSWR, val)
		case "stale-if-error":
			setLifetime(&cc.sie, &cc.hasSIE, val)
		}
	}
}

// setLifetime records one occurrence of a delta-seconds directive; a second
// one with another value leaves 0.
func setLifetime(d *time.Duration, has *bool, val []byte) {
	v, ok := seconds(val)
	if !ok {
		return
	}
	if *has && *d != v {
		v = 0
	}
	*d, *has = v, true
}

func seconds(v []byte) (time.Duration, bool) {
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	const maxSeconds = int64(365 * 24 * 3600)
	return time.Duration(min(n, maxSeconds)) * time.Second, true
}

// storable statuses: the heuristically cacheable ones of RFC 9110 that a
// gateway in front of an API meets. 404/410 are negative entries.
func storableStatus(code int) (ok, negative bool) {
	switch code {
	case 200, 203, 204, 300, 301, 308:
		return true, false
	case 404, 410:
		return true, true
	}
	return false, false
}

// windows decides whether resp may be stored and for how long. ok=false means
// it must not be stored (or shared with other waiters, when pass is set).
type windows struct {
	fresh, swr, sie time.Duration
	negative        bool
}

// policyFor applies the route's cache block and the response's headers.
// pass reports a response that must not reach anyone but its own requester
// (Set-Cookie, no-store, private on a shared route); !store && !pass is a
// response that may be shared with coalesced waiters but not kept (an
// uncacheable status, no-cache, an oversized body).
func (rc *routeCache) policyFor(resp *fasthttp.Response) (w windows, store, pass bool) {
	h := &resp.Header
	// Every field line counts (RFC 9110 §5.3): nginx's add_header in front
	// of an app sends "max-age=60" and "no-store" as two lines.
	cc := parseCacheControlLines(h.PeekAll(fasthttp.HeaderCacheControl))
	if h.Peek(fasthttp.HeaderSetCookie) != nil || cc.noStore || (cc.private && !rc.cfg.Key.Private) {
		return w, false, true
	}
	if vary := h.PeekAll(fasthttp.HeaderVary); len(vary) > 0 && !rc.varyKeyed(vary) {
		// The response depends on a header the key ignores: storing it
		// would serve one client's variant to another.
		return w, false, true
	}
	ok, negative := storableStatus(resp.StatusCode())
	if !ok || cc.noCache || len(resp.Body()) > rc.cfg.MaxBodyBytes {
		return w, false, false
	}
	w.negative = negative
	if negative {
		if rc.cfg.NegativeTTL <= 0 {
			return w, false, false
		}
		w.fresh = rc.cfg.NegativeTTL
		return w, true, false
	}
	w.fresh, w.swr, w.sie = rc.cfg.TTL, rc.cfg.StaleWhileRevalidate, rc.cfg.StaleIfError
	if !rc.cfg.OverrideUpstream {
		switch {
		case cc.hasSMaxAge:
			w.fresh = cc.sMaxAge
		case cc.hasMaxAge:
			w.fresh = cc.maxAge
		}
		if cc.hasSWR {
			w.swr = cc.swr
		}
		if cc.hasSIE {
			w.sie = cc.sie
		}
		if cc.mustRevalidate {
			w.swr, w.sie = 0, 0
		}
	}
	if w.fresh <= 0 && w.swr <= 0 && w.sie <= 0 {
		return w, false, false
	}
	return w, true, false
}

// varyKeyed reports whether every header the Vary lines name is in the key
// (or is Accept-Encoding, which fills never send: stored responses are
// identity).
func (rc *routeCache) varyKeyed(lines [][]byte) bool {
	for _, l := range lines {
		if !rc.varyLineKeyed(l) {
			return false
		}
	}
	return true
}

func (rc *routeCache) varyLineKeyed(vary []byte) bool {
	for _, f := range bytes.Split(vary, []byte{','}) {
		name := string(bytes.TrimSpace(f))
		if name == "" || strings.EqualFold(name, "Accept-Encoding") {
			continue
		}
		if name == "*" {
			return false
		}
		found := false
		for _, k := range rc.cfg.Key.Headers {
			if strings.EqualFold(k, name) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
