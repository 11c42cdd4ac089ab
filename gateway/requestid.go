package gateway

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"sync/atomic"
)

// headerRequestID is spelled as fasthttp normalises it: SetCanonical with
// another spelling adds a second field next to the one SetBytesV (errors)
// or an origin wrote, and 401/403/404s carried X-Request-Id twice.
const headerRequestID = "X-Request-Id"

// maxRequestIDLen bounds a propagated X-Request-ID; longer or odd ones are
// replaced, so a client cannot inject log lines or bloat every header.
const maxRequestIDLen = 128

// requestIDs makes unique, unguessable-enough IDs without allocating: a
// random per-process prefix and a counter, hex encoded.
type requestIDs struct {
	prefix [16]byte // 8 random bytes, hex encoded once
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs {
	var g requestIDs
	var prefix [8]byte
	_, _ = rand.Read(prefix[:])
	hex.Encode(g.prefix[:], prefix[:])
	var seed [8]byte
	_, _ = rand.Read(seed[:])
	g.n.Store(binary.LittleEndian.Uint64(seed[:]))
	return &g
}

// appendNew appends a fresh 32-character ID to dst.
func (g *requestIDs) appendNew(dst []byte) []byte {
	var raw [8]byte
	binary.BigEndian.PutUint64(raw[:], g.n.Add(1))
	dst = append(dst, g.prefix[:]...)
	const digits = "0123456789abcdef"
	for _, c := range raw {
		dst = append(dst, digits[c>>4], digits[c&0xf])
	}
	return dst
}

// validRequestID accepts IDs made of URL-safe characters and a few
// separators, like a UUID, a W3C trace id, or "req:42".
func validRequestID(id []byte) bool {
	if len(id) == 0 || len(id) > maxRequestIDLen {
		return false
	}
	for _, c := range id {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-' || c == '_' || c == '.' || c == ':':
		default:
			return false
		}
	}
	return true
}
