package httpcache

import (
	"time"

	"github.com/valyala/fasthttp"
)

// RequestDirectives are the Cache-Control directives of a request (RFC
// 9111 §5.2.1), for routes that honour them.
type RequestDirectives struct {
	// NoCache: a stored response must not be used without validation
	// (also Pragma: no-cache when there is no Cache-Control, §5.4).
	NoCache bool
	// NoStore: nothing of this exchange may be stored.
	NoStore bool
	// OnlyIfCached: answer from the cache or with 504, never the origin.
	OnlyIfCached bool
	// MaxAge: the client wants a response no older than this.
	MaxAge Delta
	// MinFresh: the client wants a response fresh for at least this long.
	MinFresh Delta
	// MaxStale: the client accepts a response stale by at most this (any
	// staleness when present without a value: MaxStaleAny).
	MaxStale    Delta
	MaxStaleAny bool
}

// Any reports whether d asks anything of the cache.
func (d RequestDirectives) Any() bool { return d != RequestDirectives{} }

var (
	reqCacheControl = []byte(fasthttp.HeaderCacheControl)
	reqPragma       = []byte(fasthttp.HeaderPragma)
)

// RequestDirectivesOf reads h's directives, nil when it sends none (the
// common case costs two header lookups).
func RequestDirectivesOf(h *fasthttp.RequestHeader) *RequestDirectives {
	if h.PeekCanonical(reqCacheControl) == nil && h.PeekCanonical(reqPragma) == nil {
		return nil
	}
	// A copy: PeekAll's result is reused by the next call.
	lines := append([][]byte(nil), h.PeekAll(fasthttp.HeaderCacheControl)...)
	d := ParseRequestDirectives(lines, h.PeekAll(fasthttp.HeaderPragma))
	if !d.Any() {
		return nil
	}
	return &d
}

// ParseRequestDirectives reads a request's Cache-Control field lines, or
// its Pragma lines when it has no Cache-Control (§5.4).
func ParseRequestDirectives(cacheControl, pragma [][]byte) RequestDirectives {
	var d RequestDirectives
	if len(cacheControl) == 0 {
		for _, l := range pragma {
			var p lexer
			p.s = l
			for p.next() {
				if equalFold(p.name, "no-cache") {
					d.NoCache = true
				}
			}
		}
		return d
	}
	for _, l := range cacheControl {
		var p lexer
		p.s = l
		for p.next() {
			name, value, ok := p.name, p.value, p.ok
			switch {
			case equalFold(name, "no-cache"):
				d.NoCache = true
			case equalFold(name, "no-store"):
				d.NoStore = true
			case equalFold(name, "only-if-cached"):
				d.OnlyIfCached = true
			case equalFold(name, "max-age"):
				d.MaxAge.set(value, ok)
			case equalFold(name, "min-fresh"):
				d.MinFresh.set(value, ok)
			case equalFold(name, "max-stale"):
				if value == nil && ok {
					d.MaxStaleAny = true
				} else {
					d.MaxStale.set(value, ok)
				}
			}
		}
	}
	return d
}

// Acceptable reports whether a stored response generated at generated,
// fresh until freshUntil, may answer a request with d at now (§5.2.1):
// not older than max-age, fresh for min-fresh more, and if stale, within
// max-stale. Invalid values are ignored.
func (d RequestDirectives) Acceptable(now, generated, freshUntil time.Time) bool {
	if d.NoCache {
		return false
	}
	if d.MaxAge.valid() && now.Sub(generated) > d.MaxAge.D {
		return false
	}
	if d.MinFresh.valid() && freshUntil.Sub(now) < d.MinFresh.D {
		return false
	}
	if !now.After(freshUntil) {
		return true
	}
	return d.MaxStaleAny || (d.MaxStale.valid() && now.Sub(freshUntil) <= d.MaxStale.D)
}
