//go:build !race

package gateway

import (
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tiercel/tiercel/internal/testwait"
)

func TestAdmitAllocatesNothingOnTheHotPath(t *testing.T) {
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

func TestL1HitThroughHandlerAllocatesNothing(t *testing.T) {
	h := newHarness(t, cachedRoutes(""))
	newVersionedOrigin(h.origin)
	// The cached route with auth and a rate limit: the full hot path.
	h.srv.current().routes[len(h.srv.current().routes)-1].limit, _ = h.srv.current().limiter.Route("c-me", "big")
	ctx, serve := l1Hit(t, h)
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

// TestL1HitAfterReloadAllocatesNothing: the generation a reload builds
// keeps the hot path free of allocations (its route metrics are the old
// ones, its limiter handle and cache are carried over).
func TestL1HitAfterReloadAllocatesNothing(t *testing.T) {
	h := newHarness(t, cachedRoutes(""))
	newVersionedOrigin(h.origin)
	if err := h.srv.Reload(reloadConfig(t, h.origin.ln.Addr().String(), func(c *Config) {
		c.Routes[len(c.Routes)-1].RateLimit = "big"
	})); err != nil {
		t.Fatal(err)
	}
	_, serve := l1Hit(t, h)
	if n := testing.AllocsPerRun(200, serve); n != 0 {
		t.Fatalf("an L1 hit after a reload allocates %.1f times per request", n)
	}
}

// A single range on an L1 hit is as free as the hit: the 206 is a slice
// of the entry.
func TestRangeOnL1HitAllocatesNothing(t *testing.T) {
	h := newHarness(t, cachedRoutes(""))
	rangeOrigin(h, "max-age=60")
	h.get("/c/products/r6", "")
	h.srv.current().cache.Wait()
	ctx := newCheckCtx("/c/products/r6", "")
	ctx.Request.Header.Set("Range", "bytes=2-3")
	ctx.Request.Header.Set("If-Range", `"v1"`)
	serve := func() {
		ctx.Response.Reset()
		h.srv.handle(ctx)
	}
	serve()
	if ctx.Response.StatusCode() != 206 || string(ctx.Response.Body()) != "cd" || string(ctx.Response.Header.Peek("X-Cache")) != "HIT-L1" {
		t.Fatalf("%d %q %q", ctx.Response.StatusCode(), ctx.Response.Body(), ctx.Response.Header.Peek("X-Cache"))
	}
	if n := testing.AllocsPerRun(200, serve); n != 0 {
		t.Fatalf("a range on an L1 hit allocates %.1f times per request", n)
	}
}

// TestAccessLogAllocatesNothing: the json and common lines are appended
// into the request's pooled buffer: an L1 hit stays allocation-free with
// the access log on.
func TestAccessLogAllocatesNothing(t *testing.T) {
	for _, format := range []string{"json", "common"} {
		h := newHarness(t, func(c *Config) {
			cachedRoutes("")(c)
			c.Log.Access, c.Log.AccessFormat = true, format
		})
		var out syncBuffer
		h.srv.SetAccessWriter(&out)
		tok := token(t, nil)
		ctx := newCheckCtx("/c/me", tok)
		serve := func() {
			ctx.Response.Reset()
			h.srv.handle(ctx)
		}
		testwait.For(t, 5*time.Second, "an L1 hit", func() bool {
			serve()
			return string(ctx.Response.Header.Peek("X-Cache")) == "HIT-L1"
		})
		out.mu.Lock()
		out.b.Reset()
		out.mu.Unlock()
		if n := testing.AllocsPerRun(200, serve); n != 0 {
			t.Fatalf("%s: an L1 hit with the access log allocates %.1f times per request", format, n)
		}
		if n := len(out.lines()); n != 201 {
			t.Fatalf("%s: %d lines for 201 requests", format, n)
		}
	}
}

// l1Hit fills /c/me, with a token, on h and returns a request for it and
// a serve that answers it from L1, once served.
func l1Hit(t *testing.T, h *harness) (*fasthttp.RequestCtx, func()) {
	t.Helper()
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
	return ctx, serve
}

// With tracing on at sample_ratio 0, an L1 hit makes no span: it reads
// the (absent) traceparent and allocates nothing. The sampled hit's cost
// is logged, not asserted: a span is a few allocations by design.
func TestL1HitUnsampledAllocatesNothing(t *testing.T) {
	recv := startOTLPReceiver(t)
	for _, ratio := range []float64{0, 1} {
		h := newHarness(t, tracingOn(recv.srv.URL, ratio))
		newVersionedOrigin(h.origin)
		h.srv.current().routes[len(h.srv.current().routes)-1].limit, _ = h.srv.current().limiter.Route("c-me", "big")
		_, serve := l1Hit(t, h)
		n := testing.AllocsPerRun(200, serve)
		if ratio == 0 && n != 0 {
			t.Fatalf("an unsampled L1 hit allocates %.1f times per request", n)
		}
		t.Logf("sample_ratio %v: an L1 hit allocates %.1f times", ratio, n)
	}
}
