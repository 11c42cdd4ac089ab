package gateway

import (
	"slices"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/tiercel/tiercel/gateway/auth"
	"github.com/tiercel/tiercel/gateway/httpcache"
	"github.com/tiercel/tiercel/gateway/reqtarget"
	"github.com/tiercel/tiercel/gateway/router"
)

// appendCacheKey builds the route's cache key (httpcache.AppendKey) from
// st's path and query, the keyed headers of h and, on a private route, p.
// The path is st.path, in normal form (reqtarget): the one routed and the
// one a fill sends; the query is st's, parsed only when the route keys
// parameters. A fill sends exactly the keyed parts (newFill), so key and
// upstream request are built from the same values.
func (rc *routeCache) appendCacheKey(dst []byte, h *fasthttp.RequestHeader, st *reqState, p *auth.Principal) []byte {
	dst = httpcache.AppendKey(dst, rc.routeName, st.path)
	if len(rc.cfg.Key.Query) > 0 {
		dst = httpcache.AppendKeyQuery(dst, st.queryArgs(), rc.cfg.Key.Query)
	}
	dst = httpcache.AppendKeyHeaders(dst, h, rc.cfg.Key.Headers)
	if !rc.cfg.Key.Private {
		return dst
	}
	if p == nil {
		return httpcache.AppendKeyAnonymous(dst) // auth: optional: one shared answer
	}
	dst = httpcache.AppendKeyCaller(dst, p.Issuer)
	for _, c := range rc.claims {
		dst = c.appendValue(dst, p)
	}
	return dst
}

// keyClaim is one identifying claim of a private route's key
// (RouteCacheKey.Claims).
type keyClaim struct {
	kind     claimKind
	index    int // into auth.Config.KeepClaims, for claimKept
	optional bool
}

type claimKind uint8

const (
	claimSubject claimKind = iota // the issuer's subject claim, whatever its name
	claimTenant                   // the issuer's tenant claim
	claimKept                     // a named claim, kept by the verifier
)

// defaultKeyClaims identify a caller by subject, within its tenant if any.
var defaultKeyClaims = []keyClaim{{kind: claimSubject}, {kind: claimTenant, optional: true}}

// present reports whether p has the claim; an empty string is no value.
func (c keyClaim) present(p *auth.Principal) bool {
	switch c.kind {
	case claimSubject:
		return p.Subject != ""
	case claimTenant:
		return p.Tenant != ""
	}
	_, ok := p.Claim(c.index)
	return ok
}

// appendValue appends the claim as p carries it, or its absence.
func (c keyClaim) appendValue(dst []byte, p *auth.Principal) []byte {
	if !c.present(p) {
		return httpcache.AppendKeyNoClaim(dst)
	}
	switch c.kind {
	case claimSubject:
		return httpcache.AppendKeyClaim(dst, p.Subject)
	case claimTenant:
		return httpcache.AppendKeyClaim(dst, p.Tenant)
	}
	vals, _ := p.Claim(c.index)
	return httpcache.AppendKeyClaim(dst, vals...)
}

// keyable reports whether a request of p may be answered from the cache
// and stored: always on a shared route; on a private one, when anonymous
// (one shared anonymous answer) or identified.
func (rc *routeCache) keyable(p *auth.Principal) bool {
	return !rc.cfg.Key.Private || p == nil || rc.identifies(p)
}

// identifies reports whether p carries what the route keys a caller on:
// every required claim and at least one claim in all. A caller it does not
// identify would share one entry with every other such caller (tokens of
// one issuer without sub and tenant, as client-credentials tokens are).
func (rc *routeCache) identifies(p *auth.Principal) bool {
	some := false
	for _, c := range rc.claims {
		ok := c.present(p)
		if !ok && !c.optional {
			return false
		}
		some = some || ok
	}
	return some
}

// keptClaims lists the claims every route's key names, for
// auth.Config.KeepClaims.
func keptClaims(routes []RouteConfig) []string {
	var out []string
	for _, r := range routes {
		for _, name := range r.Cache.Key.Claims {
			out = append(out, strings.TrimSuffix(name, "?"))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// compileKeyClaims resolves a route's key.claims against the kept list.
func compileKeyClaims(names, kept []string) []keyClaim {
	if len(names) == 0 {
		return defaultKeyClaims
	}
	out := make([]keyClaim, len(names))
	for i, name := range names {
		bare := strings.TrimSuffix(name, "?")
		out[i] = keyClaim{kind: claimKept, index: slices.Index(kept, bare), optional: bare != name}
	}
	return out
}

// renderTags expands the route's tag templates with the request's path
// parameters, then adds the path tag of path, the request's path in normal
// form (httpcache.PathTag). It allocates: it runs on misses only.
func (rc *routeCache) renderTags(params *router.Params, path []byte) []string {
	return renderTemplates(rc.tags, params, path)
}

// renderTemplates expands tag templates with path parameters, decoded
// (product:café for /products/caf%C3%A9: the tag names the value, not its
// spelling in a URL), and adds the path tag of path unless it is nil. All
// the tags share one string, so a request costs two allocations whatever
// the number of tags (a string and a slice per tag cost as much as the L1
// lookup).
func renderTemplates(tmpls []template, params *router.Params, path []byte) []string {
	n := len(tmpls)
	if path != nil {
		n++
	}
	if n == 0 {
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
	if path != nil {
		size += len(httpcache.PathTagPrefix) + len(path)
	}
	var b strings.Builder
	b.Grow(size) // decoding only shortens a value
	out := make([]string, n)
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
		out[i] = httpcache.UserTag(b.String()[start:])
	}
	if path != nil {
		start := b.Len()
		b.WriteString(httpcache.PathTagPrefix)
		b.Write(path)
		out[n-1] = b.String()[start:]
	}
	return out
}
