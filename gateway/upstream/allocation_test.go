//go:build !race

package upstream

import (
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestProxyAllocations counts every allocation in the process during a
// Proxy call, upstream server included, with hop-by-hop headers to strip in
// both directions.
func TestProxyAllocations(t *testing.T) {
	addr := startServer(t, func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set(fasthttp.HeaderConnection, "X-Up-Secret")
		ctx.Response.Header.Set("X-Up-Secret", "1")
		ctx.Response.Header.Set(fasthttp.HeaderKeepAlive, "timeout=9")
		ctx.SetBody(benchBody)
	})
	p := newTestPool(t, Config{Targets: []string{addr}})
	ctx := newBenchCtx() // carries Connection and X-Forwarded-For
	requestID := []byte("0123456789abcdef")

	allocs := testing.AllocsPerRun(200, func() {
		if _, err := p.Proxy(ctx, ctx.RequestURI(), time.Now().Add(5*time.Second), requestID); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Proxy allocates %.1f times per call, want 0", allocs)
	}
	if len(ctx.Response.Header.Peek("X-Up-Secret")) != 0 {
		t.Errorf("response still carries X-Up-Secret")
	}
}
