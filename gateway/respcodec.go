package gateway

import (
	"bytes"
	"encoding/binary"
	"errors"

	"github.com/valyala/fasthttp"
)

// A stored response is the cache entry's Value:
//
//	format u8 | status u16 | header count u16 | (name len u16, name, value len u32, value)* | body
//
// Only end-to-end headers the origin chose are kept: hop-by-hop headers
// (upstream.Pool.Do has already dropped them and those the origin's
// Connection named; the standard set is skipped here again), per-request
// ones (Date, X-Request-ID, RateLimit-*) and Set-Cookie never are.
const respFormat = 1

var errBadStoredResponse = errors.New("cannot decode stored response")

// skipStored lists response headers never stored (lowercase).
var skipStored = map[string]bool{
	"connection": true, "keep-alive": true, "proxy-connection": true, "proxy-authenticate": true, "proxy-authorization": true,
	"te": true, "trailer": true, "transfer-encoding": true, "upgrade": true, "content-length": true,
	"date": true, "server": true, "age": true, "set-cookie": true, "x-request-id": true,
	"x-cache": true, "cache-status": true, "server-timing": true,
	"ratelimit-limit": true, "ratelimit-remaining": true, "ratelimit-reset": true, "retry-after": true,
}

// encodeResponse appends resp in the stored form. Repeated header fields
// are joined into one comma-separated value (RFC 9110 §5.3; Set-Cookie, the
// exception, is never stored), so serving can set each name once, without
// fasthttp re-normalising names on the hot path.
func encodeResponse(dst []byte, resp *fasthttp.Response) []byte {
	type field struct{ k, v []byte }
	var fields []field
	var lower [64]byte
	for k, v := range resp.Header.All() {
		if len(k) <= len(lower) && skipStored[string(toLower(lower[:0], k))] {
			continue
		}
		merged := false
		for i := range fields {
			if bytes.EqualFold(fields[i].k, k) {
				fields[i].v = append(append(fields[i].v, ", "...), v...)
				merged = true
				break
			}
		}
		if !merged {
			fields = append(fields, field{append([]byte(nil), k...), append([]byte(nil), v...)})
		}
	}
	dst = append(dst, respFormat)
	dst = binary.BigEndian.AppendUint16(dst, uint16(resp.StatusCode()))
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(fields)))
	for _, f := range fields {
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(f.k)))
		dst = append(dst, f.k...)
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(f.v)))
		dst = append(dst, f.v...)
	}
	return append(dst, resp.Body()...)
}

func toLower(dst, b []byte) []byte {
	for _, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// writeStoredResponse replaces resp's status, headers and body with the
// stored ones. The body is referenced, not copied: entries are immutable.
// It allocates nothing once resp's header buffers have grown.
func writeStoredResponse(resp *fasthttp.Response, v []byte) error {
	if len(v) < 5 || v[0] != respFormat {
		return errBadStoredResponse
	}
	status := int(binary.BigEndian.Uint16(v[1:]))
	n := int(binary.BigEndian.Uint16(v[3:]))
	v = v[5:]
	resp.Header.ResetConnectionClose()
	// Stored names are canonical (fasthttp's parser made them so) and
	// unique (encodeResponse joined repeats): SetCanonical neither
	// normalises nor re-checks the name, where AddBytesKV copies and scans
	// it for line breaks (two of an L1 hit's 24 such scans per header), and
	// its check for an existing field finds none in the few set so far.
	resp.Header.DisableNormalizing()
	resp.SetStatusCode(status)
	for range n {
		if len(v) < 2 {
			return errBadStoredResponse
		}
		kl := int(binary.BigEndian.Uint16(v))
		if len(v) < 2+kl+4 {
			return errBadStoredResponse
		}
		k := v[2 : 2+kl]
		vl := int(binary.BigEndian.Uint32(v[2+kl:]))
		v = v[2+kl+4:]
		if len(v) < vl {
			return errBadStoredResponse
		}
		resp.Header.SetCanonical(k, v[:vl])
		v = v[vl:]
	}
	resp.SetBodyRaw(v)
	return nil
}
