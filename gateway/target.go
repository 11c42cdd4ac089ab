package gateway

import (
	"bytes"

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
// fasthttp's normalisation would leave it unchanged.
func normalPath(target []byte) ([]byte, bool) {
	if len(target) == 0 || target[0] != '/' {
		return nil, false
	}
	end := len(target)
	for i := 0; i < end; i++ {
		switch target[i] {
		case '?':
			end = i
		case '%', '#':
			return nil, false
		case '/':
			if i+1 < end && (target[i+1] == '/' || target[i+1] == '.') {
				return nil, false
			}
		}
	}
	// fasthttp ignores a query that is part of a fragment, and drops the
	// fragment: leave both to it.
	if bytes.IndexByte(target[end:], '#') >= 0 {
		return nil, false
	}
	return target[:end], true
}
