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

func TestAdmitAllocatesNothingOnTheHotPath(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	s := newCheckServer(t)
	ctx := newCheckCtx("/api/products/42", token(t, nil))
	st := statePool.Get().(*reqState)
	admit := func() {
		st.route, st.limited, st.timing = -1, false, st.timing[:0]
		if _, _, ok := s.current().admit(ctx, st); !ok {
			t.Fatalf("not admitted: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
	admit() // the first call verifies the token and creates the bucket
	if n := testing.AllocsPerRun(200, admit); n != 0 {
		t.Fatalf("route+auth+rate-limit allocates %.1f times per request", n)
	}
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

func TestL1HitThroughHandlerAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	h := newHarness(t, cachedRoutes(""))
	newVersionedOrigin(h.origin)
	// The cached route with auth and a rate limit: the full hot path.
	h.srv.current().routes[len(h.srv.current().routes)-1].limit, _ = h.srv.current().limiter.Route("c-me", "big")
	tok := token(t, nil)
	if r := h.get("/c/me", tok); r.header.Get("X-Cache") != "MISS" {
		t.Fatalf("warm-up: %q", r.header.Get("X-Cache"))
	}
	h.srv.current().cache.Wait()
	ctx := newCheckCtx("/c/me", tok)
	serve := func() {
		ctx.Response.Reset()
		h.srv.handle(ctx)
	}
	serve()
	if got := string(ctx.Response.Header.Peek("X-Cache")); got != "HIT-L1" {
		t.Fatalf("X-Cache %q: %s", got, ctx.Response.Body())
	}
	if n := testing.AllocsPerRun(200, serve); n != 0 {
		t.Fatalf("an L1 hit with JWT and rate limit allocates %.1f times per request", n)
	}
	// A revalidation answered 304 from L1 allocates nothing either.
	ctx.Request.Header.Set("If-None-Match", "*")
	serve()
	if ctx.Response.StatusCode() != fasthttp.StatusNotModified {
		t.Fatalf("If-None-Match: * answered %d", ctx.Response.StatusCode())
	}
	if n := testing.AllocsPerRun(200, serve); n != 0 {
		t.Fatalf("a 304 from L1 allocates %.1f times per request", n)
	}
}
