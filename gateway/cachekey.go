package gateway

import (
	"encoding/binary"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/tiercel/tiercel/gateway/auth"
	"github.com/tiercel/tiercel/gateway/reqtarget"
	"github.com/tiercel/tiercel/gateway/router"
)

// keyFormat versions the cache key layout: a change of layout must not read
// entries stored under the old one.
const keyFormat = 2 // 2: the path in normal form (reqtarget), keyed claims

// appendCacheKey builds the route's cache key: everything that may select a
// different response, and nothing else. Fields are length-prefixed, so no
// value can be crafted to look like another field ("a=b&c" as one value).
// GET and HEAD share keys: a HEAD is answered from a stored GET.
//
// The path is st.path, in normal form (reqtarget): the one routed and the
// one a fill sends; the query is st's, parsed only when the route keys
// parameters. A fill sends exactly the keyed parts (newFill), so key and
// upstream request are built from the same values.
func (rc *routeCache) appendCacheKey(dst []byte, h *fasthttp.RequestHeader, st *reqState, p *auth.Principal) []byte {
	dst = append(dst, 'h', keyFormat)
	dst = appendField(dst, rc.routeName)
	dst = appendFieldBytes(dst, st.path)
	if len(rc.cfg.Key.Query) > 0 {
		dst = rc.appendQueryKey(dst, st.queryArgs())
	}
	for _, name := range rc.cfg.Key.Headers {
		if lines := h.PeekAll(name); len(lines) > 0 {
			dst = append(dst, 'h')
			dst = appendField(dst, name)
			dst = appendFieldLines(dst, lines)
		}
	}
	if rc.cfg.Key.Private {
		dst = append(dst, 'p')
		if p == nil {
			return append(dst, '-')
		}
		dst = appendField(dst, p.Issuer)
		dst = appendField(dst, p.Tenant)
		dst = appendField(dst, p.Subject)
	}
	return dst
}

// appendQueryKey appends the keyed query parameters.
func (rc *routeCache) appendQueryKey(dst []byte, args *fasthttp.Args) []byte {
	for _, name := range rc.cfg.Key.Query {
		// Only the first value of a parameter is keyed, and only it is sent
		// on a fill: key and upstream request always agree.
		if v := args.Peek(name); v != nil || args.Has(name) {
			dst = append(dst, 'q')
			dst = appendField(dst, name)
			dst = appendFieldBytes(dst, v)
		}
	}
	return dst
}

// appendFieldLines appends a header's field lines as the one value they
// make together (RFC 9110 §5.3: lines joined with ", "), the value a fill
// sends: two requests whose lines combine to the same value are the same
// request.
func appendFieldLines(dst []byte, lines [][]byte) []byte {
	n := 2 * (len(lines) - 1)
	for _, l := range lines {
		n += len(l)
	}
	dst = binary.AppendUvarint(dst, uint64(n))
	return appendJoined(dst, lines)
}

func appendJoined(dst []byte, lines [][]byte) []byte {
	for i, l := range lines {
		if i > 0 {
			dst = append(dst, ", "...)
		}
		dst = append(dst, l...)
	}
	return dst
}

func appendField(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendFieldBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// renderTags expands the route's tag templates with the request's path
// parameters. It allocates: it runs on misses only.
func (rc *routeCache) renderTags(params *router.Params) []string {
	return renderTemplates(rc.tags, params)
}

// renderTemplates expands tag templates with path parameters, decoded
// (product:café for /products/caf%C3%A9: the tag names the value, not its
// spelling in a URL). All the tags share one string, so a request costs
// two allocations whatever the number of tags (a string and a slice per tag
// cost as much as the L1 lookup).
func renderTemplates(tmpls []template, params *router.Params) []string {
	if len(tmpls) == 0 {
		return nil
	}
	size := 0
	for _, t := range tmpls {
		for _, p := range t.parts {
			size += len(p)
		}
		for _, name := range t.params {
			size += len(params.Get(name))
		}
	}
	var b strings.Builder
	b.Grow(size) // decoding only shortens a value
	out := make([]string, len(tmpls))
	var tmp [128]byte
	for i, t := range tmpls {
		start := b.Len()
		b.WriteString(t.parts[0])
		for j, name := range t.params {
			b.Write(reqtarget.AppendUnescaped(tmp[:0], params.Get(name)))
			b.WriteString(t.parts[j+1])
		}
		// A Builder never changes bytes it has written, and after Grow(size)
		// never moves them: every tag is a view of the one string.
		out[i] = b.String()[start:]
	}
	return out
}
