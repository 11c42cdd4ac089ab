package gateway

import (
	"fmt"
	"net/textproto"
	"slices"
	"strings"
	"time"

	"github.com/tiercel/tiercel/gateway/httpcache"
	"github.com/tiercel/tiercel/internal/defaults"
)

// RouteCache is a route's `cache` block.
type RouteCache struct {
	// Enabled turns caching on for the route's GET and HEAD requests.
	Enabled bool `yaml:"enabled"`
	// TTL is how long a response stays fresh when the upstream gives it no
	// explicit freshness (max-age, s-maxage, Expires) and its status is
	// cacheable by default (200, 203, 204, 300, 301, 308) or it is marked
	// public; or always, with override_upstream. Default 30s when unset;
	// 0 stores only what the upstream marks cacheable (RFC 9111 §4.2.2: a
	// default lifetime is the cache's choice, "heuristic freshness").
	TTL *time.Duration `yaml:"ttl"`
	// LastModifiedFraction, when positive, gives a response without
	// explicit freshness that has a Last-Modified this fraction of the time
	// since then (RFC 9111 §4.2.2 suggests 0.1), at most heuristic_max,
	// instead of ttl. Default 0: off.
	LastModifiedFraction float64 `yaml:"last_modified_fraction"`
	// HeuristicMax caps the Last-Modified heuristic. Default 24h.
	HeuristicMax time.Duration `yaml:"heuristic_max"`
	// StaleWhileRevalidate serves a stale response this long after TTL while
	// one background refresh runs. Default 0 unless the upstream sends
	// stale-while-revalidate.
	StaleWhileRevalidate time.Duration `yaml:"stale_while_revalidate"`
	// StaleIfError serves an expired response this long after TTL when the
	// upstream fails or is too slow. Default 0 unless the upstream sends
	// stale-if-error.
	StaleIfError time.Duration `yaml:"stale_if_error"`
	// NegativeTTL is ttl for 404, 405, 410, 414 and 501 answers without
	// explicit freshness; 0 (default) does not cache them (an upstream's
	// max-age on them is honoured either way).
	NegativeTTL time.Duration `yaml:"negative_ttl"`
	// OverrideUpstream ignores the upstream's Cache-Control lifetimes
	// (max-age, s-maxage, stale-*) and uses the route's. no-store, private
	// and Set-Cookie are still honoured: they are about safety, not freshness.
	OverrideUpstream bool `yaml:"override_upstream"`
	// Key says what besides the path identifies a response.
	Key RouteCacheKey `yaml:"key"`
	// Tags are surrogate keys with {param} templates of the path's
	// parameters, e.g. "product:{id}"; invalidating a tag drops every
	// response stored under it.
	Tags []string `yaml:"tags"`
	// MaxBodyBytes: larger responses are served but not stored. Default 1 MiB.
	MaxBodyBytes int `yaml:"max_body_bytes"`
	// TargetedFields are response fields addressed to this cache that it
	// obeys instead of Cache-Control, the first present and valid one
	// (RFC 9213; Structured Field Dictionaries), and never passes on.
	// Default [CDN-Cache-Control]; list a name of your own first to steer
	// Tiercel apart from a CDN in front of it; [] obeys none.
	TargetedFields []string `yaml:"targeted_fields"`
	// Keep is how long a response with a validator (ETag, Last-Modified)
	// is kept after it may no longer be served, to be revalidated with a
	// conditional request (a 304 renews it without its body; RFC 9111
	// §4.3); no-cache responses are stored only for that. Default 10m when
	// unset; 0 keeps nothing. Bounded by cache.tombstone_ttl.
	Keep *time.Duration `yaml:"keep"`
	// RequestDirectives says what a client's own Cache-Control (RFC 9111
	// §5.2.1: no-cache, no-store, max-age, min-fresh, max-stale,
	// only-if-cached; Pragma: no-cache) does: "ignore" (default: like most
	// CDNs, so no client can make every request reach the origin) or
	// "honor".
	RequestDirectives string `yaml:"request_directives"`
	// HitForPass remembers this long that a key's response was not storable
	// (Set-Cookie, no-store, ...), so its requests go straight to the
	// upstream instead of queueing behind a fill. Default 10s.
	HitForPass time.Duration `yaml:"hit_for_pass"`
}

// RouteCacheKey lists the parts of a request that select a cached response.
// Anything not listed is not sent to the upstream on a fill either, so it
// cannot change what is stored (no poisoning through unkeyed input).
type RouteCacheKey struct {
	// Query parameters included, in any order in the request (they are
	// sorted); every other parameter is dropped from the upstream request.
	Query []string `yaml:"query"`
	// Headers included (and forwarded on fills); every other request header
	// except X-Request-ID is dropped from fills.
	Headers []string `yaml:"headers"`
	// Private keys the response on the caller: the token's issuer and the
	// Claims below, so one caller never reads another's entry; it also
	// allows storing responses marked Cache-Control: private. A caller the
	// claims do not identify is served without the cache (X-Cache: BYPASS).
	Private bool `yaml:"private"`
	// Claims are the token claims that identify a caller on a private
	// route, each keyed with its value (arrays in order; the issuer's scopes
	// and roles claims as sorted sets). A name ending in "?" is optional: a
	// token without it is keyed as lacking it; a token without a required
	// claim, or without any of the listed ones, bypasses the cache.
	// Default: the issuer's subject claim (required) and tenant claim
	// (optional). Add the scopes claim ("scope") when the answer depends
	// on them: without it, a token with fewer scopes reads the answer made
	// for a token of the same caller with more. Needs private: true.
	Claims []string `yaml:"claims"`
	// ForwardHeaders are request headers sent to the upstream on fills as
	// the caller sent them, without being keyed: tracing or request
	// numbering that must reach the origin. Only for headers that do not
	// change the response: one caller's value shapes the entry every
	// caller of that key is served (the poisoning rule holds only for
	// what is not listed here). Credentials and hop-by-hop headers are
	// refused; a keyed header need not be listed.
	ForwardHeaders []string `yaml:"forward_headers"`
}

func (c *RouteCache) setDefaults() {
	if c.TTL == nil {
		ttl := 30 * time.Second
		c.TTL = &ttl
	}
	defaults.Set(&c.HeuristicMax, 24*time.Hour)
	defaults.Set(&c.RequestDirectives, requestDirectivesIgnore)
	if c.Keep == nil {
		keep := 10 * time.Minute
		c.Keep = &keep
	}
	if c.TargetedFields == nil {
		c.TargetedFields = []string{"CDN-Cache-Control"}
	}
	for i, f := range c.TargetedFields {
		c.TargetedFields[i] = textproto.CanonicalMIMEHeaderKey(f)
	}
	defaults.Set(&c.MaxBodyBytes, 1<<20)
	defaults.Set(&c.HitForPass, 10*time.Second)
	for i, h := range c.Key.Headers {
		c.Key.Headers[i] = textproto.CanonicalMIMEHeaderKey(h)
	}
	for i, h := range c.Key.ForwardHeaders {
		c.Key.ForwardHeaders[i] = textproto.CanonicalMIMEHeaderKey(h)
	}
	slices.Sort(c.Key.Query)
	slices.Sort(c.Key.Headers)
}

// hopByHop reports the hop-by-hop headers (RFC 9110 §7.6.1) in canonical
// form: a fill never sends them.
func hopByHop(h string) bool {
	switch h {
	case "Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// ttl is TTL's value (0 when unset: SetDefaults sets it).
func (c *RouteCache) ttl() time.Duration {
	if c.TTL == nil {
		return 0
	}
	return *c.TTL
}

// keep is Keep's value (0 when unset).
func (c *RouteCache) keep() time.Duration {
	if c.Keep == nil {
		return 0
	}
	return *c.Keep
}

// policy is the block as an httpcache storage policy.
func (c *RouteCache) policy() httpcache.Policy {
	return httpcache.Policy{
		Defaults: httpcache.Defaults{TTL: c.ttl(), NegativeTTL: c.NegativeTTL,
			LastModifiedFraction: c.LastModifiedFraction, HeuristicMax: c.HeuristicMax},
		Private: c.Key.Private, Override: c.OverrideUpstream,
		StaleWhileRevalidate: c.StaleWhileRevalidate, StaleIfError: c.StaleIfError,
		MaxBodyBytes: c.MaxBodyBytes, KeyedHeaders: c.Key.Headers, TargetedFields: c.TargetedFields,
		Keep: c.keep(),
	}
}

// validate checks the block; params are the route path's parameter names.
func (c *RouteCache) validate(params []string) []string {
	if !c.Enabled {
		return nil
	}
	var errs []string
	for name, d := range map[string]time.Duration{"ttl": c.ttl(), "keep": c.keep(), "heuristic_max": c.HeuristicMax, "stale_while_revalidate": c.StaleWhileRevalidate,
		"stale_if_error": c.StaleIfError, "negative_ttl": c.NegativeTTL, "hit_for_pass": c.HitForPass} {
		if d < 0 {
			errs = append(errs, fmt.Sprintf("cache.%s: must be >= 0", name))
		}
	}
	if c.OverrideUpstream && c.ttl() <= 0 {
		errs = append(errs, "cache.ttl: must be > 0 with override_upstream")
	}
	if c.RequestDirectives != requestDirectivesIgnore && c.RequestDirectives != requestDirectivesHonor {
		errs = append(errs, fmt.Sprintf("cache.request_directives: %q is not one of ignore, honor", c.RequestDirectives))
	}
	if c.LastModifiedFraction < 0 || c.LastModifiedFraction > 1 {
		errs = append(errs, "cache.last_modified_fraction: must be between 0 and 1")
	}
	if c.MaxBodyBytes <= 0 {
		errs = append(errs, "cache.max_body_bytes: must be > 0")
	}
	for i, h := range c.Key.Headers {
		switch h {
		case "Authorization", "Cookie":
			errs = append(errs, fmt.Sprintf("cache.key.headers[%d]: %s would key on a credential; use private: true", i, h))
		case "Proxy-Authorization":
			errs = append(errs, fmt.Sprintf("cache.key.headers[%d]: %s is hop-by-hop (RFC 9110 §7.6.1): it is never forwarded", i, h))
		default:
			if hopByHop(h) {
				errs = append(errs, fmt.Sprintf("cache.key.headers[%d]: %s is hop-by-hop (RFC 9110 §7.6.1): it is never forwarded", i, h))
			}
		}
	}
	for i, h := range c.Key.ForwardHeaders {
		switch {
		case h == "Authorization" || h == "Cookie" || h == "Proxy-Authorization":
			errs = append(errs, fmt.Sprintf("cache.key.forward_headers[%d]: %s is a credential: it changes the response (use private: true)", i, h))
		case hopByHop(h):
			errs = append(errs, fmt.Sprintf("cache.key.forward_headers[%d]: %s is hop-by-hop (RFC 9110 §7.6.1): it is never forwarded", i, h))
		case slices.Contains(c.Key.Headers, h):
			errs = append(errs, fmt.Sprintf("cache.key.forward_headers[%d]: %s is keyed: keyed headers are forwarded already", i, h))
		case h == "Host" || h == "Content-Length" || h == "Range" || h == "If-None-Match" || h == "If-Modified-Since":
			errs = append(errs, fmt.Sprintf("cache.key.forward_headers[%d]: %s is set by the gateway on fills", i, h))
		}
	}
	if len(c.Key.Claims) > 0 && !c.Key.Private {
		errs = append(errs, "cache.key.claims: needs private: true")
	}
	seen := map[string]bool{}
	for i, name := range c.Key.Claims {
		bare := strings.TrimSuffix(name, "?")
		switch {
		case bare == "" || strings.ContainsAny(bare, "? "):
			errs = append(errs, fmt.Sprintf("cache.key.claims[%d]: %q is not a claim name (optional ones end in one ?)", i, name))
		case seen[bare]:
			errs = append(errs, fmt.Sprintf("cache.key.claims[%d]: %q is listed twice", i, bare))
		}
		seen[bare] = true
	}
	for i, tmpl := range c.Tags {
		if _, err := compileTemplate(tmpl, params); err != nil {
			errs = append(errs, fmt.Sprintf("cache.tags[%d]: %v", i, err))
		}
	}
	slices.Sort(errs)
	return errs
}

// template is a compiled tag template: literal parts interleaved with
// parameter indexes.
type template struct {
	parts  []string // len(params)+1 literals
	params []string // names, resolved per request through router.Params
}

func compileTemplate(s string, params []string) (template, error) {
	var t template
	if strings.HasPrefix(s, httpcache.PathTagPrefix) {
		return t, fmt.Errorf("%q: tags starting with %q are the gateway's own path tags", s, httpcache.PathTagPrefix)
	}
	rest := s
	for {
		open := strings.IndexByte(rest, '{')
		if open < 0 {
			if strings.ContainsRune(rest, '}') {
				return t, fmt.Errorf("%q: unbalanced }", s)
			}
			t.parts = append(t.parts, rest)
			break
		}
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			return t, fmt.Errorf("%q: unclosed {", s)
		}
		name := rest[open+1 : open+end]
		if !slices.Contains(params, name) {
			return t, fmt.Errorf("%q: the path has no parameter {%s}", s, name)
		}
		t.parts = append(t.parts, rest[:open])
		t.params = append(t.params, name)
		rest = rest[open+end+1:]
	}
	if s == "" {
		return t, fmt.Errorf("empty tag")
	}
	return t, nil
}

// pathParams lists a path pattern's parameter names.
func pathParams(pattern string) []string {
	var out []string
	for _, seg := range strings.Split(pattern, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			out = append(out, strings.TrimSuffix(seg[1:len(seg)-1], "..."))
		}
	}
	return out
}
