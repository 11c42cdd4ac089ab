package auth

import "errors"

// Preallocated: VerifyBearer runs on every request and must not allocate,
// not even to reject.
var (
	errNotBearer   = &Error{Reason: ReasonMalformed, Err: errors.New("authorization scheme is not Bearer")}
	errEmptyBearer = &Error{Reason: ReasonMalformed, Err: errors.New("bearer token is empty")}
	errBearerChars = &Error{Reason: ReasonMalformed, Err: errors.New("bearer token has characters outside b64token")}
)

// splitBearer returns the token of an Authorization header value of the
// form "Bearer <token>": the scheme is case-insensitive and followed by one
// or more spaces. The result is a sub-slice of authorization. The caller
// checks the token is an RFC 6750 b64token (isB64Token). Errors are *Error
// with ReasonMissing (empty header) or ReasonMalformed.
func splitBearer(authorization []byte) ([]byte, *Error) {
	if len(authorization) == 0 {
		return nil, errMissing
	}
	const scheme = "bearer"
	if len(authorization) <= len(scheme) || authorization[len(scheme)] != ' ' || !equalFoldASCII(authorization[:len(scheme)], scheme) {
		return nil, errNotBearer
	}
	tok := authorization[len(scheme):]
	for len(tok) > 0 && tok[0] == ' ' {
		tok = tok[1:]
	}
	if len(tok) == 0 {
		return nil, errEmptyBearer
	}
	return tok, nil
}

// equalFoldASCII compares b with the lower-case ASCII string lower.
func equalFoldASCII(b []byte, lower string) bool {
	for i := range len(lower) {
		if b[i]|0x20 != lower[i] {
			return false
		}
	}
	return true
}

// isB64Token reports whether b matches 1*( ALPHA / DIGIT / "-" / "." / "_" /
// "~" / "+" / "/" ) *"=" (RFC 6750 section 2.1).
func isB64Token(b []byte) bool {
	n := len(b)
	for n > 0 && b[n-1] == '=' {
		n--
	}
	if n == 0 {
		return false
	}
	for _, c := range b[:n] {
		if charClass[c]&classB64Token == 0 {
			return false
		}
	}
	return true
}

const (
	classBase64URL = 1 << iota // A-Z a-z 0-9 - _
	classB64Token              // base64url plus . ~ + /
)

// charClass is a read-only lookup table, cheaper than a chain of range
// checks per byte of every token.
var charClass = func() (t [256]uint8) {
	for c := range 256 {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' {
			t[c] = classBase64URL | classB64Token
		}
	}
	for _, c := range ".~+/" {
		t[c] = classB64Token
	}
	return t
}()

// looksLikeJWT rejects, without allocating, anything that cannot be a
// compact JWS: three base64url segments, the first two non-empty (the third
// may be empty so that alg "none" is reported as an algorithm problem).
func looksLikeJWT(b []byte) bool {
	dots, seg := 0, 0
	for _, c := range b {
		switch {
		case c == '.':
			if seg == 0 || dots == 2 {
				return false
			}
			dots++
			seg = 0
		case charClass[c]&classBase64URL != 0:
			seg++
		default:
			return false
		}
	}
	return dots == 2
}
