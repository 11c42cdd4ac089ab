package httpcache

import (
	"net/url"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/tiercel/tiercel/gateway/reqtarget"
)

// Invalidation by unsafe methods (RFC 9111 §4.4): a cache must invalidate
// the target URI of an unsafe request that got a non-error answer, and may
// invalidate the URIs its Location and Content-Location name, only if they
// share the target's host.

// SafeMethod reports the methods RFC 9110 §9.2.1 defines as safe; every
// other method, known or not, is a write for the cache.
func SafeMethod(m []byte) bool {
	switch string(m) {
	case fasthttp.MethodGet, fasthttp.MethodHead, fasthttp.MethodOptions, fasthttp.MethodTrace:
		return true
	}
	return false
}

// SameOriginPath reads a Location or Content-Location value (RFC 9110
// §10.2.2, §8.7) and returns the path, in normal form, of the URI it names
// when that URI is of the request's origin: a relative reference, resolved
// against the request's path (RFC 3986 §5.2), or an http(s) URI, or a
// network-path reference, whose authority is the request's Host (the host
// compared case-insensitively, a missing port being the scheme's default).
// The scheme itself is not compared: a TLS terminator in front of the
// gateway hides the request's. Anything else is another origin, or not a
// URI, and ok is false. targets gives the normal form, the one requests
// are routed and keyed on.
func SameOriginPath(value, host, base []byte, targets reqtarget.Options) (path []byte, ok bool) {
	ref, err := url.Parse(string(value))
	if err != nil || ref.Opaque != "" {
		return nil, false
	}
	if ref.Scheme != "" && ref.Scheme != "http" && ref.Scheme != "https" {
		return nil, false
	}
	if (ref.Scheme != "" || ref.Host != "") && !sameAuthority(ref.Scheme, ref.Host, string(host)) {
		return nil, false
	}
	b, err := url.Parse(string(base))
	if err != nil {
		return nil, false
	}
	p := b.ResolveReference(ref).EscapedPath()
	if p == "" {
		p = "/" // an http(s) URI's empty path is "/" (RFC 9110 §4.2.3)
	}
	path, _, _, err = targets.Parse(nil, []byte(p))
	return path, err == nil
}

// sameAuthority reports whether the authority of a URI with scheme is the
// Host header's.
func sameAuthority(scheme, authority, host string) bool {
	ah, ap := splitHostPort(authority)
	hh, hp := splitHostPort(host)
	if ah == "" || !strings.EqualFold(ah, hh) {
		return false
	}
	def := ""
	switch scheme {
	case "http":
		def = "80"
	case "https":
		def = "443"
	}
	if ap == "" {
		ap = def
	}
	if hp == "" {
		hp = def
	}
	return ap == hp
}

// splitHostPort splits host[:port], an IP literal in brackets included;
// port is empty when absent.
func splitHostPort(hp string) (host, port string) {
	if i := strings.LastIndexByte(hp, ':'); i >= 0 && !strings.Contains(hp[i:], "]") {
		return hp[:i], hp[i+1:]
	}
	return hp, ""
}
