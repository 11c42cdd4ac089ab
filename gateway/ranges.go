package gateway

import (
	"github.com/valyala/fasthttp"

	"github.com/tiercel/tiercel/gateway/byterange"
)

// Byte ranges answered from the cache (RFC 9110 §14). The cache stores
// whole 200s: Range is not part of the key and a fill never forwards it,
// so a miss fetches the whole object (within cache.max_body_bytes) and
// every answer from an entry, fresh, stale or just filled, is sliced here.
// Like a 304, a range decides the status of this one answer and nothing
// that is stored or served to anyone else.

var hdrContentRange = []byte(fasthttp.HeaderContentRange)

var errRangeNotSatisfiable = &Error{fasthttp.StatusRequestedRangeNotSatisfiable, "range_not_satisfiable",
	"the Range header selects no byte of the representation"}

// answerRange applies the request's Range and If-Range to the stored
// response in ctx.Response (byterange.ApplyRequest), after conditional
// requests had their say (a 304 wins, and byterange leaves anything but a
// 200 alone), and gives a 416 the gateway's error shape.
func answerRange(ctx *fasthttp.RequestCtx, st *reqState) {
	if byterange.ApplyRequest(&ctx.Response, &ctx.Request.Header) != byterange.Unsatisfiable {
		return
	}
	// The gateway's one error shape, keeping the 416's Content-Range
	// (bytes */length) and, from writeError, no-store.
	st.scratch = append(st.scratch[:0], ctx.Response.Header.PeekCanonical(hdrContentRange)...)
	writeError(ctx, errRangeNotSatisfiable, st.id)
	ctx.Response.Header.SetCanonical(hdrContentRange, st.scratch)
}
