package byterange

import (
	"strconv"

	"github.com/valyala/fasthttp"
)

// Header names in fasthttp's normal form: resp's header may have
// normalisation disabled (a stored response written back field by field),
// and then only that spelling is found.
var (
	hdrAcceptRanges = []byte("Accept-Ranges")
	hdrContentRange = []byte("Content-Range")
	hdrCacheControl = []byte("Cache-Control")
	hdrETag         = []byte("Etag")
	hdrLastModified = []byte("Last-Modified")
	hdrDate         = []byte("Date")
	unitBytes       = []byte("bytes")
	noStore         = []byte("no-store")
)

// contentFields describe the 200's content as sent, so they are wrong on
// any 206 or 416 (RFC 9530 §2: Content-Digest is of the message content;
// Repr-Digest, of the representation, stays on a 206).
var contentFields = [][]byte{[]byte("Content-Digest"), []byte("Content-Md5")}

// representationFields describe the whole representation: kept on a 206
// (RFC 9110 §15.3.7), removed from a 416, whose content is not it.
// Content-Type and Content-Encoding are fasthttp's own fields.
var representationFields = [][]byte{
	[]byte("Content-Language"), []byte("Content-Location"), []byte("Content-Disposition"),
	hdrETag, hdrLastModified, []byte("Expires"), []byte("Repr-Digest"), []byte("Digest"),
}

// inlineRanges is how many ranges Apply resolves without allocating.
const inlineRanges = 4

// Apply answers a request from the complete response in resp. method,
// rangeValue and ifRange are the request's method and its Range and
// If-Range field values, nil or empty when absent; both fields are
// single-valued, so what a repeated one means is the caller's to decide
// (ignoring Range is always safe).
//
// Only a 200 is touched: it gets Accept-Ranges: bytes, and a GET whose
// Range applies becomes its 206 (Partial) or 416 (Unsatisfiable); Full
// leaves the 200 as it was. A 304 or any other status is returned as Full
// without a change, so a caller may apply conditional requests first
// (RFC 9110 §13.2.2: If-None-Match decides before Range).
//
// If-Range is evaluated against resp's ETag, Last-Modified and Date. A
// parsed response keeps its Date; fasthttp drops one set by hand (it sends
// its own), and without one a date never matches (see IfRange).
//
// resp's body must be memory that stays unchanged until resp is written,
// given with SetBodyRaw (a cache entry): a single range is the slice of it,
// not a copy. A body in fasthttp's own buffer would go back to its pool
// under that slice.
func Apply(resp *fasthttp.Response, method, rangeValue, ifRange []byte) Outcome {
	if resp.StatusCode() != fasthttp.StatusOK {
		return Full
	}
	h := &resp.Header
	h.SetCanonical(hdrAcceptRanges, unitBytes)
	if len(rangeValue) == 0 || string(method) != fasthttp.MethodGet {
		return Full // §14.2: Range is defined for GET only; HEAD gets the 200
	}
	body := resp.Body()
	var buf [inlineRanges]Range
	rs, out := Parse(buf[:0], rangeValue, len(body))
	if out == Full {
		return Full
	}
	// §13.2.2 step 5: a false If-Range sends the 200, even where the Range
	// would have been unsatisfiable.
	if len(ifRange) > 0 && !IfRange(ifRange, h.PeekCanonical(hdrETag), h.PeekCanonical(hdrLastModified), h.PeekCanonical(hdrDate)) {
		return Full
	}
	switch {
	case out == Unsatisfiable:
		writeUnsatisfiable(resp, len(body))
	case len(rs) == 1:
		writeSingle(resp, body, rs[0])
	case len(h.ContentEncoding()) > 0:
		// The parts would be pieces of the coded representation, and a
		// top-level Content-Encoding would claim the multipart itself is
		// coded: there is no right way to label it.
		return Full
	default:
		writeMultipart(resp, body, rs)
	}
	return out
}

// writeSingle makes resp the 206 of one range (RFC 9110 §15.3.7.1): the
// 200's header fields stay, Content-Range names the slice, Content-Length
// follows the body when fasthttp writes it.
func writeSingle(resp *fasthttp.Response, body []byte, r Range) {
	resp.SetStatusCode(fasthttp.StatusPartialContent)
	resp.Header.SetContentRange(r.First, r.Last, len(body))
	deleteFields(&resp.Header, contentFields)
	resp.SetBodyRaw(body[r.First : r.Last+1])
}

// writeUnsatisfiable makes resp the 416 (RFC 9110 §15.5.17): Content-Range
// "bytes */size", no content, none of the representation's metadata, and
// no-store (see the package doc).
func writeUnsatisfiable(resp *fasthttp.Response, size int) {
	h := &resp.Header
	resp.SetStatusCode(fasthttp.StatusRequestedRangeNotSatisfiable)
	resp.ResetBody()
	h.SetContentTypeBytes(nil)
	h.SetNoDefaultContentType(true)
	h.SetContentEncodingBytes(nil)
	deleteFields(h, contentFields)
	deleteFields(h, representationFields)
	h.SetCanonical(hdrCacheControl, noStore)
	var b [32]byte
	h.SetCanonical(hdrContentRange, appendUnsatisfied(b[:0], size))
}

// appendUnsatisfied appends the Content-Range value of a 416 for a
// representation of size bytes: "bytes */size" (RFC 9110 §14.4).
func appendUnsatisfied(dst []byte, size int) []byte {
	return strconv.AppendInt(append(dst, "bytes */"...), int64(size), 10)
}

func deleteFields(h *fasthttp.ResponseHeader, names [][]byte) {
	for _, k := range names {
		h.DelBytes(k)
	}
}
