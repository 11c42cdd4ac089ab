package gateway

import (
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/valyala/fasthttp"
)

// newCheckServer builds a gateway without listeners for white-box tests of
// the request checks.
func newCheckServer(tb testing.TB) *Server {
	tb.Helper()
	cfg := testConfig("127.0.0.1:9")
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		tb.Fatal(err)
	}
	s, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.closeComponents() })
	return s
}

// newCheckCtx is a request as fasthttp would hand it to the handler.
func newCheckCtx(path, tok string) *fasthttp.RequestCtx {
	var req fasthttp.Request
	req.Header.SetMethod("GET")
	req.SetRequestURI(path)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.SetHost("127.0.0.1:8080") // what wrk sends: validHost reads it
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, nil)
	return ctx
}

func TestAdmitRejectsWithoutProxying(t *testing.T) {
	s := newCheckServer(t)
	st := statePool.Get().(*reqState)
	ctx := newCheckCtx("/api/products/42", "nope")
	st.route = -1
	if _, _, ok := s.current().admit(ctx, st); ok || ctx.Response.StatusCode() != 401 {
		t.Fatalf("bad token admitted: %d", ctx.Response.StatusCode())
	}
}
