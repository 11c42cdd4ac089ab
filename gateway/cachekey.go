package gateway

import (
	"encoding/binary"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/tiercel/tiercel/gateway/auth"
	"github.com/tiercel/tiercel/gateway/router"
)

// keyFormat versions the cache key layout: a change of layout must not read
// entries stored under the old one.
const keyFormat = 1

// appendCacheKey builds the route's cache key: everything that may select a
// different response, and nothing else. Fields are length-prefixed, so no
// value can be crafted to look like another field ("a=b&c" as one value).
// GET and HEAD share keys: a HEAD is answered from a stored GET.
//
// rawPath is the path as the client sent it (requestPath): keyed as sent,
// because the fill sends it as sent.
func (rc *routeCache) appendCacheKey(dst []byte, ctx *fasthttp.RequestCtx, rawPath []byte, p *auth.Principal) []byte {
	dst = append(dst, 'h', keyFormat)
	dst = appendField(dst, rc.routeName)
	dst = appendFieldBytes(dst, rawPath)
	if len(rc.cfg.Key.Query) > 0 {
		dst = rc.appendQueryKey(dst, ctx.QueryArgs())
	}
	for _, name := range rc.cfg.Key.Headers {
		if v := ctx.Request.Header.Peek(name); len(v) > 0 {
			dst = append(dst, 'h')
			dst = appendField(dst, name)
			dst = appendFieldBytes(dst, v)
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

// appendQueryKey appends the keyed query parameters. Parsing the query is
// skipped when the route keys none.
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

// renderTemplates expands tag templates with path parameters. All the tags
// share one string, so a request costs two allocations whatever the number
// of tags (a string and a slice per tag cost as much as the L1 lookup).
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
	b.Grow(size)
	out := make([]string, len(tmpls))
	for i, t := range tmpls {
		start := b.Len()
		b.WriteString(t.parts[0])
		for j, name := range t.params {
			b.Write(params.Get(name))
			b.WriteString(t.parts[j+1])
		}
		// A Builder never changes bytes it has written, and after Grow(size)
		// never moves them: every tag is a view of the one string.
		out[i] = b.String()[start:]
	}
	return out
}
