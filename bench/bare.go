package bench

import (
	"bytes"
	"net"

	"github.com/valyala/fasthttp"
)

// Bare is the baseline every Tiercel figure is compared against: a fasthttp
// server that answers every request with the same body and does nothing
// else. No gateway can be faster on the same machine, so "ratio to bare" is
// the honest way to quote throughput on a noisy, shared box.
type Bare struct {
	srv  *fasthttp.Server
	body []byte
}

// NewBare makes a bare server whose body is size bytes of JSON-ish text.
func NewBare(size int) *Bare {
	b := &Bare{body: bareBody(size)}
	b.srv = &fasthttp.Server{Handler: b.handle, Name: "bare"}
	return b
}

// bareBody is size bytes of JSON-ish text (a quoted string, at least "").
func bareBody(size int) []byte {
	body := bytes.Repeat([]byte("x"), max(size, 2))
	body[0], body[len(body)-1] = '"', '"'
	return body
}

func (b *Bare) handle(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.SetContentType("application/json")
	ctx.Response.Header.Set("Cache-Control", "max-age=60")
	ctx.SetBody(b.body)
}

// Serve serves on ln until Shutdown.
func (b *Bare) Serve(ln net.Listener) error { return b.srv.Serve(ln) }

// Shutdown stops the server.
func (b *Bare) Shutdown() error { return b.srv.Shutdown() }

// Handler is the bare request handler, for in-process benchmarks.
func (b *Bare) Handler() fasthttp.RequestHandler { return b.handle }
