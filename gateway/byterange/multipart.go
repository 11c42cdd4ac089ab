package byterange

import (
	"bytes"
	"crypto/rand"
	"strconv"

	"github.com/valyala/fasthttp"
)

// writeMultipart makes resp the 206 of several ranges (RFC 9110 §14.6,
// §15.3.7.2): one multipart/byteranges part per range, each with the
// representation's Content-Type and its Content-Range. The 200's other
// header fields stay; its Content-Type becomes the multipart's.
// Several ranges are rare next to one, so this path allocates its content.
func writeMultipart(resp *fasthttp.Response, body []byte, rs []Range) {
	h := &resp.Header
	ct := h.ContentType() // fasthttp's default when the 200 had none: what it would send
	b := boundary(body, rs, ct, rand.Text)
	content := appendMultipart(make([]byte, 0, multipartLen(body, rs, ct, b)), body, rs, ct, b)
	resp.SetStatusCode(fasthttp.StatusPartialContent)
	h.SetContentType("multipart/byteranges; boundary=" + b)
	h.DelBytes(hdrContentRange)
	deleteFields(h, contentFields)
	resp.SetBodyRaw(content)
}

// boundary draws multipart boundaries until one occurs in no part's
// content and not in the Content-Type the parts repeat: RFC 2046 §5.1.1
// requires that it not appear in the encapsulated material. A delimiter is
// CRLF "--" boundary, and draw's characters hold no CR, LF or '-', so one
// cannot start inside a part and end in what follows it either. draw is
// crypto/rand.Text (128 bits) but for tests.
func boundary(body []byte, rs []Range, ct []byte, draw func() string) string {
	for {
		b := draw()
		if !occurs(b, body, rs, ct) {
			return b
		}
	}
}

func occurs(b string, body []byte, rs []Range, ct []byte) bool {
	bb := []byte(b)
	if bytes.Contains(ct, bb) {
		return true
	}
	for _, r := range rs {
		if bytes.Contains(body[r.First:r.Last+1], bb) {
			return true
		}
	}
	return false
}

// appendMultipart appends the multipart/byteranges content:
//
//	--B CRLF [Content-Type: ct CRLF] Content-Range: bytes f-l/size CRLF CRLF data CRLF ... --B-- CRLF
func appendMultipart(dst, body []byte, rs []Range, ct []byte, b string) []byte {
	for _, r := range rs {
		dst = append(append(append(dst, "--"...), b...), "\r\n"...)
		if len(ct) > 0 {
			dst = append(append(append(dst, "Content-Type: "...), ct...), "\r\n"...)
		}
		dst = append(dst, "Content-Range: bytes "...)
		dst = strconv.AppendInt(dst, int64(r.First), 10)
		dst = append(dst, '-')
		dst = strconv.AppendInt(dst, int64(r.Last), 10)
		dst = append(dst, '/')
		dst = strconv.AppendInt(dst, int64(len(body)), 10)
		dst = append(append(append(dst, "\r\n\r\n"...), body[r.First:r.Last+1]...), "\r\n"...)
	}
	return append(append(append(dst, "--"...), b...), "--\r\n"...)
}

// multipartLen bounds appendMultipart's length, so it never grows dst.
func multipartLen(body []byte, rs []Range, ct []byte, b string) int {
	const perPart = len("--\r\nContent-Type: \r\nContent-Range: bytes -/\r\n\r\n\r\n") + 3*20
	n := len("----\r\n") + len(b)
	for _, r := range rs {
		n += perPart + len(b) + len(ct) + r.Len()
	}
	return n
}
