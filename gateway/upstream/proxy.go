package upstream

import (
	"time"

	"github.com/valyala/fasthttp"
)

// Proxy forwards ctx's request to the pool with uri as its target and, on
// success, replaces ctx.Response with the upstream's response. uri is the
// origin-form target the caller routed (path and query): the client's own
// request line is never sent, because fasthttp's client reads a target
// such as "//a/b" as an authority, not as the path that was routed. Hop-by-hop headers are
// stripped both ways; X-Forwarded-For/-Proto/-Host describe the client's
// connection and X-Request-ID carries requestID when it is not empty. The
// upstream sees the target as Host.
//
// GET, HEAD, OPTIONS, PUT, DELETE and TRACE are idempotent and may be
// retried (see Do). On error ctx.Response is left untouched for the caller
// to write the error. Nothing from ctx is kept after Proxy returns.
func (p *Pool) Proxy(ctx *fasthttp.RequestCtx, uri []byte, deadline time.Time, requestID []byte) (Result, error) {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)

	copyRequest(req, ctx, uri, requestID)
	res, err := p.Do(req, resp, deadline, isIdempotent(ctx.Method()))
	if err != nil {
		return res, err
	}
	moveResponse(&ctx.Response, resp)
	return res, nil
}

func copyRequest(req *fasthttp.Request, ctx *fasthttp.RequestCtx, uri []byte, requestID []byte) {
	ctx.Request.Header.CopyTo(&req.Header)
	// The target is parsed once, when Do sets the target's host.
	req.SetRequestURIBytes(uri)
	// The body is only borrowed: req is released before Proxy returns, while
	// ctx's body is still valid, so copying it would be wasted work.
	req.SetBodyRaw(ctx.Request.Body())

	// Speak keep-alive HTTP/1.1 upstream whatever the client spoke:
	// an HTTP/1.0 request line would make the target close the connection.
	req.Header.SetProtocol("HTTP/1.1")
	// fasthttp would invent a Content-Type for a body sent without one.
	req.Header.SetNoDefaultContentType(true)
	stripHopByHop(&req.Header)
	setForwarded(&req.Header, ctx, requestID)
}

// moveResponse replaces dst with src's headers and body. The body buffers
// are swapped rather than copied: src goes back to fasthttp's pool holding
// dst's old buffer.
func moveResponse(dst, src *fasthttp.Response) {
	// Without this, fasthttp would add a Content-Type the upstream did not send.
	src.Header.SetNoDefaultContentType(true)
	src.Header.CopyTo(&dst.Header)
	body := src.SwapBody(nil)
	src.SwapBody(dst.SwapBody(body))
}

func isIdempotent(method []byte) bool {
	switch string(method) {
	case fasthttp.MethodGet, fasthttp.MethodHead, fasthttp.MethodOptions,
		fasthttp.MethodPut, fasthttp.MethodDelete, fasthttp.MethodTrace:
		return true
	}
	return false
}
