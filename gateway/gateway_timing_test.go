package gateway

import (
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/tiercel/tiercel/bench"
)

// BenchmarkAdmit is the cost every request pays before cache or upstream:
// routing, the cached-token check and the rate-limit check.
func BenchmarkAdmit(b *testing.B) {
	s := newCheckServer(b)
	ctx := newCheckCtx("/api/products/42", token(b, nil))
	st := statePool.Get().(*reqState)
	b.ReportAllocs()
	for b.Loop() {
		st.route, st.limited, st.timing = -1, false, st.timing[:0]
		if _, _, ok := s.admit(ctx, st); !ok {
			b.Fatal("not admitted")
		}
	}
}

// BenchmarkHandleProxy is the whole handler on a proxied request to the
// bare baseline on loopback; compare with BenchmarkBareHandler, the
// baseline's own handler cost.
func BenchmarkHandleProxy(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	bare := bench.NewBare(1024)
	go func() { _ = bare.Serve(ln) }()
	b.Cleanup(func() { _ = bare.Shutdown() })
	cfg := testConfig(ln.Addr().String())
	cfg.SetDefaults()
	s, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.closeComponents)
	ctx := newCheckCtx("/api/products/42", token(b, nil))
	b.ReportAllocs()
	for b.Loop() {
		ctx.Response.Reset()
		s.handle(ctx)
		if ctx.Response.StatusCode() != 200 {
			b.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
}

func BenchmarkBareHandler(b *testing.B) {
	h := bench.NewBare(1024).Handler()
	ctx := newCheckCtx("/api/products/42", "x")
	b.ReportAllocs()
	for b.Loop() {
		ctx.Response.Reset()
		h(ctx)
	}
}

// BenchmarkHandleL1Hit is the whole handler answering from L1 on a route
// with a cached JWT and a rate limit: the path the ≥0.80-of-bare goal is about.
func BenchmarkHandleL1Hit(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	bare := bench.NewBare(1024)
	go func() { _ = bare.Serve(ln) }()
	b.Cleanup(func() { _ = bare.Shutdown() })
	cfg := testConfig(ln.Addr().String())
	cachedRoutes("")(&cfg)
	cfg.Routes[len(cfg.Routes)-1].RateLimit = "big"
	cfg.SetDefaults()
	s, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.closeComponents)
	ctx := newCheckCtx("/c/me", token(b, nil))
	for ctx.Response.Header.Peek("X-Cache") == nil || string(ctx.Response.Header.Peek("X-Cache")) != "HIT-L1" {
		ctx.Response.Reset()
		s.handle(ctx) // first a MISS, then (once ristretto has applied the Set) hits
	}
	b.ReportAllocs()
	for b.Loop() {
		ctx.Response.Reset()
		s.handle(ctx)
	}
}
