package gateway

import (
	"github.com/valyala/fasthttp"
)

// requestPath returns the path routing sees (normalised: percent-decoded,
// no "//", no dot segments) and the path as the client sent it, which cache
// keys and fills use.
//
// fasthttp produces both by parsing the whole URI (host, path, query,
// normalisation), a tenth of an L1 hit's handler time. A request target
// that is already in normal form is its own normalised path, so it is
// sliced from the raw request line instead; anything else (a '%', '#',
// "//", a dot segment, an absolute-form target) takes fasthttp's parse.
func requestPath(ctx *fasthttp.RequestCtx) (path, raw []byte) {
	if p, ok := normalPath(ctx.Request.Header.RequestURI()); ok {
		return p, p
	}
	u := ctx.URI()
	return u.Path(), u.PathOriginal()
}

// normalPath returns the path part of an origin-form request target when
// fasthttp's parse would give exactly that path. It refuses what fasthttp
// would change or reject: a '%' or dot segment or "//" in the path, a '#'
// anywhere (fasthttp drops the fragment, and a query inside it), and a
// control byte anywhere (fasthttp's URI parse fails on one and leaves the
// path "/"; its server answers 400 before any handler, but the fast path
// must agree with the parse whoever built the request).
func normalPath(target []byte) ([]byte, bool) {
	if len(target) == 0 || target[0] != '/' {
		return nil, false
	}
	end := len(target) // where the query starts
	for i, c := range target {
		switch {
		case c < ' ' || c == 0x7f || c == '#':
			return nil, false
		case i > end: // in the query: only the checks above apply
		case c == '?':
			end = i
		case c == '%':
			return nil, false
		case c == '/' && i+1 < len(target) && (target[i+1] == '/' || target[i+1] == '.'):
			return nil, false
		}
	}
	return target[:end], true
}
