package gateway

// hostBytes are the bytes a Host header may hold outside an IP literal:
// RFC 3986 reg-name (unreserved, sub-delims, pct-encoded) and the ':' of a
// port. Bytes of 0x80 and up are let through: some clients send UTF-8
// names rather than punycode, and nothing downstream reads them as syntax.
var hostBytes = func() (t [256]bool) {
	for c := 0x80; c < 0x100; c++ {
		t[c] = true
	}
	for _, c := range []byte("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=%:") {
		t[c] = true
	}
	return t
}()

// validHost reports whether a Host header value is uri-host [ ":" port ]
// (RFC 9110 §7.2), which a server must answer with 400 when it is not
// (RFC 9112 §3.2). Empty is valid here: fasthttp already refuses an HTTP/1.1
// request without one, and HTTP/1.0 needs none.
//
// Beyond the RFC, it matters because fasthttp's URI parse fails on a host
// it cannot read and then gives the path "/", while routing takes the path
// from the request target (requestPath): one request would be two.
func validHost(h []byte) bool {
	if len(h) > 0 && h[0] == '[' { // IP literal: [v6 or vFuture] then an optional port
		i := 1
		for i < len(h) && h[i] != ']' {
			if c := h[i]; c >= 0x80 || !hostBytes[c] {
				return false
			}
			i++
		}
		if i == len(h) || i == 1 {
			return false
		}
		h = h[i+1:]
		if len(h) == 0 {
			return true
		}
		if h[0] != ':' {
			return false
		}
		return allDigits(h[1:])
	}
	colon := -1
	for i, c := range h {
		if !hostBytes[c] {
			return false
		}
		if c == ':' {
			if colon >= 0 {
				return false // reg-name has no ':'; only one port separator
			}
			colon = i
		}
	}
	return colon < 0 || (colon > 0 && allDigits(h[colon+1:]))
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
