package httpcache

import (
	"encoding/binary"

	"github.com/valyala/fasthttp"
)

// Cache keys. A key holds everything that may select a different response,
// and nothing else: the route, the path in normal form, the keyed query
// parameters and request headers, and on a private route the caller. Its
// builder appends the parts in that order:
//
//	AppendKey, AppendKeyQuery, AppendKeyHeaders,
//	then AppendKeyAnonymous, or AppendKeyCaller and one AppendKeyClaim or
//	AppendKeyNoClaim per identifying claim
//
// Each part starts with its own byte and every value is length-prefixed,
// so no value can be crafted to look like another part ("a=b&c" as one
// query value). GET and HEAD share keys: a HEAD is answered from a stored
// GET. Nothing here allocates once dst has grown.

// keyFormat versions the key layout: a change of layout must not read
// entries stored under the old one.
const keyFormat = 2 // 2: the path in normal form (reqtarget), keyed claims

// AppendKey starts a key: the layout's version, the route's name and the
// request's path in normal form (the one routed and sent on a fill).
func AppendKey(dst []byte, route string, path []byte) []byte {
	dst = append(dst, 'h', keyFormat)
	dst = appendField(dst, route)
	return appendFieldBytes(dst, path)
}

// AppendKeyQuery appends the parameters of args that names key, in the
// order of names. Only the first value of a parameter is keyed, and only
// it must be sent on a fill: key and upstream request always agree.
func AppendKeyQuery(dst []byte, args *fasthttp.Args, names []string) []byte {
	for _, name := range names {
		if v := args.Peek(name); v != nil || args.Has(name) {
			dst = append(dst, 'q')
			dst = appendField(dst, name)
			dst = appendFieldBytes(dst, v)
		}
	}
	return dst
}

// AppendKeyHeaders appends the request headers that names key, each as the
// one value its field lines make together (AppendFieldValue), the value a
// fill sends: two requests whose lines combine to the same value are the
// same request.
func AppendKeyHeaders(dst []byte, h *fasthttp.RequestHeader, names []string) []byte {
	for _, name := range names {
		if lines := h.PeekAll(name); len(lines) > 0 {
			dst = append(dst, 'h')
			dst = appendField(dst, name)
			dst = appendFieldLines(dst, lines)
		}
	}
	return dst
}

// AppendKeyAnonymous ends the key of a private route's anonymous caller:
// every anonymous request shares one answer.
func AppendKeyAnonymous(dst []byte) []byte { return append(dst, 'p', '-') }

// AppendKeyCaller appends a private route's identified caller, by its
// token's issuer; the claims that identify it within the issuer follow.
func AppendKeyCaller(dst []byte, issuer string) []byte {
	return appendField(append(dst, 'p'), issuer)
}

// AppendKeyClaim appends an identifying claim the caller carries, with its
// values (one for a string claim).
func AppendKeyClaim(dst []byte, vals ...string) []byte {
	dst = append(dst, 1)
	dst = binary.AppendUvarint(dst, uint64(len(vals)))
	for _, v := range vals {
		dst = appendField(dst, v)
	}
	return dst
}

// AppendKeyNoClaim appends an identifying claim the caller does not carry.
func AppendKeyNoClaim(dst []byte) []byte { return append(dst, 0) }

// AppendFieldValue appends a header's field lines as the one value they
// make together (RFC 9110 §5.3: joined with ", ").
func AppendFieldValue(dst []byte, lines [][]byte) []byte {
	for i, l := range lines {
		if i > 0 {
			dst = append(dst, ", "...)
		}
		dst = append(dst, l...)
	}
	return dst
}

// appendFieldLines appends lines as AppendFieldValue does, length-prefixed.
func appendFieldLines(dst []byte, lines [][]byte) []byte {
	n := 2 * (len(lines) - 1)
	for _, l := range lines {
		n += len(l)
	}
	dst = binary.AppendUvarint(dst, uint64(n))
	return AppendFieldValue(dst, lines)
}

func appendField(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendFieldBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}
