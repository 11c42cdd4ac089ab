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

var (
	reqRange        = []byte(fasthttp.HeaderRange)
	reqIfRange      = []byte(fasthttp.HeaderIfRange)
	hdrContentRange = []byte(fasthttp.HeaderContentRange)
)

var errRangeNotSatisfiable = &Error{fasthttp.StatusRequestedRangeNotSatisfiable, "range_not_satisfiable",
	"the Range header selects no byte of the representation"}

// answerRange applies the request's Range and If-Range to the stored
// response in ctx.Response, after conditional requests had their say (a
// 304 wins, and byterange.Apply leaves anything but a 200 alone). A GET
// may get its 206 or 416, a 200 gets Accept-Ranges; without a Range it
// costs one header lookup.
func answerRange(ctx *fasthttp.RequestCtx, st *reqState) {
	req := &ctx.Request.Header
	rng := req.PeekCanonical(reqRange)
	// Both fields are single-valued: two lines are no one range-set (or
	// validator), and ignoring the Range is always safe.
	if len(rng) > 0 && (len(req.PeekAll(fasthttp.HeaderRange)) > 1 || len(req.PeekAll(fasthttp.HeaderIfRange)) > 1) {
		rng = nil
	}
	var ifRange []byte
	if len(rng) > 0 {
		ifRange = req.PeekCanonical(reqIfRange)
	}
	if byterange.Apply(&ctx.Response, ctx.Method(), rng, ifRange) != byterange.Unsatisfiable {
		return
	}
	// The gateway's one error shape, keeping the 416's Content-Range
	// (bytes */length) and, from writeError, no-store.
	st.scratch = append(st.scratch[:0], ctx.Response.Header.PeekCanonical(hdrContentRange)...)
	writeError(ctx, errRangeNotSatisfiable, st.id)
	ctx.Response.Header.SetCanonical(hdrContentRange, st.scratch)
}
