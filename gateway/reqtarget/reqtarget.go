// Package reqtarget reads an HTTP request target and gives the one path the
// gateway routes, keys and forwards: its normal form.
//
// A proxy that routes one reading of a path and sends the origin another is
// an authentication bypass: "//pub/api/secret" routed as /pub/... (public)
// reached an origin that read "//pub" as an authority and served
// /api/secret. So there is exactly one path per request, computed here once,
// and every later stage (router, cache key, fill, proxy, retry, hedge,
// revalidation) uses it as given. The normal form (RFC 3986 §6.2.2, plus
// merged slashes):
//
//   - percent-encoded unreserved characters are decoded (%41 → A, %2E → .),
//     every other escape gets upper-case hex digits (%2f → %2F);
//   - bytes a path segment may not hold raw (RFC 3986 pchar: non-ASCII,
//     `"<>^{|}` and the backtick) are percent-encoded;
//   - empty segments are removed ("//" → "/"), as nginx's merge_slashes;
//   - dot segments are resolved (RFC 3986 §5.2.4), so no path ever climbs
//     out of the prefix it was routed by;
//   - a trailing slash is kept: /a and /a/ are different resources.
//
// Refused (ErrBadTarget and friends, a 400 at the edge): control bytes, a
// fragment, a malformed escape, a target that is neither origin-form nor
// absolute-form, a dot segment hidden behind a path parameter ("..;",
// which Tomcat and Spring resolve as ".."), and by default an encoded slash
// or any backslash (%2F, %5C, \), which some origins decode into a
// separator after the gateway has routed.
//
// It must never allocate on a target already in normal form, never keep a
// reference to the bytes it is given, and knows nothing of HTTP servers.
package reqtarget

import (
	"bytes"
	"errors"
)

var (
	// ErrBadTarget: not origin-form or absolute-form, a fragment, or a
	// control byte.
	ErrBadTarget = errors.New("the request target is not a valid origin-form or absolute-form target")
	// ErrBadEscape: '%' not followed by two hex digits.
	ErrBadEscape = errors.New("the request path has a malformed percent-encoding")
	// ErrEscapedSlash: %2F, %5C or '\' in the path while they are refused.
	ErrEscapedSlash = errors.New("the request path contains an encoded slash or a backslash")
	// ErrDotParam: a dot segment with a path parameter ("..;x").
	ErrDotParam = errors.New("the request path has a dot segment with a parameter")
)

// Options says how to read paths; the zero value is the strict default.
type Options struct {
	// KeepEscapedSlashes lets %2F and %5C through as data inside a segment
	// (APIs whose ids contain slashes) instead of refusing them. A raw
	// backslash is then sent as %5C. Safe only when no origin behind the
	// gateway decodes them into separators.
	KeepEscapedSlashes bool
}

// Parse splits target into its path in normal form and its raw query
// (without '?'; nil when there is none). A path already in normal form is
// returned as a view of target; any other is written to dst[:0], whose
// grown buffer is returned for reuse as buf.
func (o Options) Parse(dst, target []byte) (path, query, buf []byte, err error) {
	p, q, err := split(target)
	if err != nil {
		return nil, nil, dst, err
	}
	for _, c := range q {
		if c < ' ' || c == 0x7f {
			return nil, nil, dst, ErrBadTarget
		}
	}
	if len(p) == 0 { // absolute-form with an empty path (RFC 9112 §3.2.2)
		return slash, q, dst, nil
	}
	if o.isNormal(p) {
		return p, q, dst, nil
	}
	dst, err = o.normalize(dst[:0], p)
	if err != nil {
		return nil, nil, dst, err
	}
	return dst, q, dst, nil
}

var slash = []byte("/")

// split separates the path and the query of an origin-form or absolute-form
// target. A '#' anywhere is refused: a fragment is not part of a request
// target (RFC 9112 §3.2), and fasthttp's parse would drop the query behind it.
func split(target []byte) (path, query []byte, err error) {
	if len(target) == 0 {
		return nil, nil, ErrBadTarget
	}
	if target[0] != '/' {
		rest, ok := cutScheme(target)
		if !ok {
			return nil, nil, ErrBadTarget
		}
		i := 0
		for i < len(rest) && rest[i] != '/' && rest[i] != '?' && rest[i] != '#' {
			i++
		}
		target = rest[i:] // the authority is the Host's business
	}
	for i, c := range target {
		switch c {
		case '#':
			return nil, nil, ErrBadTarget
		case '?':
			for _, c := range target[i+1:] {
				if c == '#' {
					return nil, nil, ErrBadTarget
				}
			}
			return target[:i], target[i+1:], nil
		}
	}
	return target, nil, nil
}

// cutScheme strips "http://" or "https://" (any case) from an absolute-form
// target.
func cutScheme(t []byte) ([]byte, bool) {
	for _, s := range [...]string{"http://", "https://"} {
		if len(t) >= len(s) && bytes.EqualFold(t[:len(s)], []byte(s)) {
			return t[len(s):], true
		}
	}
	return nil, false
}
