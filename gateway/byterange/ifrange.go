package byterange

import (
	"bytes"
	"time"

	"github.com/valyala/fasthttp"
)

// IfRange evaluates an If-Range field value (RFC 9110 §13.1.5) against the
// selected representation's ETag, Last-Modified and Date field values (nil
// when absent). True means the Range may be applied; false means it is
// ignored and the whole representation sent. Anything that is not a valid
// strong match is false: the failure mode is a full 200, never a range of
// a representation the client does not hold.
func IfRange(value, etag, lastModified, date []byte) bool {
	value = trimOWS(value)
	// A weak tag is W/"..."; a date may start with W too (Wed).
	if len(value) > 0 && value[0] == '"' || len(value) > 1 && value[0] == 'W' && value[1] == '/' {
		return strongTagMatch(value, trimOWS(etag))
	}
	return strongDateMatch(value, trimOWS(lastModified), trimOWS(date))
}

// strongTagMatch is the strong comparison of §8.8.3.2: both tags are
// strong and their opaque-tags are equal octet by octet. A weak tag on
// either side (W/"...") never matches.
func strongTagMatch(tag, etag []byte) bool {
	return isStrongTag(tag) && bytes.Equal(tag, etag)
}

// isStrongTag checks opaque-tag = DQUOTE *etagc DQUOTE, etagc = %x21 /
// %x23-7E / obs-text.
func isStrongTag(b []byte) bool {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return false
	}
	for _, c := range b[1 : len(b)-1] {
		if c < 0x21 || c == '"' || c == 0x7f {
			return false
		}
	}
	return true
}

// strongDateMatch: the date "exactly matches the Last-Modified field value"
// and that Last-Modified is strong (§13.1.5). A cache can only deduce
// strength from its stored Date being at least one second later (§8.8.2.2):
// within that second the representation may have changed twice under one
// timestamp. No Date, no strength, no match.
func strongDateMatch(value, lastModified, date []byte) bool {
	if len(value) == 0 || !bytes.Equal(value, lastModified) {
		return false
	}
	lm, err := fasthttp.ParseHTTPDate(lastModified)
	if err != nil {
		return false
	}
	d, err := fasthttp.ParseHTTPDate(date)
	return err == nil && d.Sub(lm) >= time.Second
}
