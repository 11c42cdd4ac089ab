package gateway

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tiercel/tiercel/gateway/upstream"
	"github.com/tiercel/tiercel/internal/breaker"
	"github.com/tiercel/tiercel/internal/testwait"
)

const fallbackBody = `{"id":null,"fallback":true}`

// degradeRoutes adds routes with fallbacks to the harness: an uncached one
// and a cached one with a stale-if-error window.
func degradeRoutes(c *Config) {
	fb := &RouteFallback{Body: fallbackBody, Headers: map[string]string{"x-fallback": "1"}}
	c.Upstreams[0].Breaker = breaker.Config{Failures: 3, Cooldown: time.Hour}
	c.Routes = append(c.Routes,
		RouteConfig{Name: "fb-open", Path: "/fb/{id}", Methods: []string{"GET", "POST"}, Upstream: "origin",
			Auth: RouteAuth{Mode: "none"}, Timeout: 200 * time.Millisecond, Fallback: fb},
		RouteConfig{Name: "fb-cached", Path: "/fbc/{id}", Upstream: "origin", Auth: RouteAuth{Mode: "none"},
			Timeout: 200 * time.Millisecond, Fallback: fb,
			Cache: RouteCache{Enabled: true, TTL: ttl(30 * time.Second)}},
	)
}

func wantFallback(t *testing.T, what string, r reply) {
	t.Helper()
	if r.status != 200 || r.body != fallbackBody || r.header.Get("X-Cache") != "FALLBACK" ||
		r.header.Get("X-Fallback") != "1" || r.header.Get("Cache-Control") != "no-store" ||
		!strings.Contains(r.header.Get("Cache-Status"), "detail=fallback") {
		t.Fatalf("%s: got %d %q X-Cache=%q headers=%v, want the fallback", what, r.status, r.body, r.header.Get("X-Cache"), r.header)
	}
}

func TestFallbackWhenOriginFails(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		degradeRoutes(c)
		c.Upstreams[0].Breaker.Failures = -1 // every request reaches the origin
	})
	var mode atomic.Value
	mode.Store("500")
	h.origin.serve(func(ctx *fasthttp.RequestCtx) {
		switch mode.Load().(string) {
		case "500":
			ctx.SetStatusCode(500)
			ctx.Response.Header.Set("X-Origin", "1")
			ctx.SetBodyString("boom")
		case "hang":
			time.Sleep(time.Second) // past the 200ms budget
		case "close":
			_ = ctx.Conn().Close()
		default:
			ctx.SetBodyString(`{"id":"ok"}`)
		}
	})
	for _, m := range []string{"500", "hang", "close"} {
		mode.Store(m)
		wantFallback(t, m+" on an uncached route", h.get("/fb/"+m, ""))
		wantFallback(t, m+" on a cached route with nothing stored", h.get("/fbc/"+m, ""))
	}
	// A write never gets a made-up success.
	mode.Store("500")
	if r := h.do("POST", "/fb/1", "", strings.NewReader("{}"), nil); r.status != 500 || r.header.Get("X-Cache") == "FALLBACK" {
		t.Fatalf("POST: %d X-Cache=%q, want the origin's 500", r.status, r.header.Get("X-Cache"))
	}
	// Routes without a fallback keep their errors.
	mode.Store("close")
	if r := h.get("/open/x", ""); r.status != 502 || r.err.Code != "upstream_unavailable" {
		t.Fatalf("route without fallback: %d %q", r.status, r.err.Code)
	}
	mode.Store("ok")
	testwait.For(t, 5*time.Second, "the origin's own answer again", func() bool {
		r := h.get("/fbc/ok", "")
		return r.status == 200 && r.body == `{"id":"ok"}`
	})
	if n := h.srv.stats.fallbacks.Load(); n < 6 {
		t.Errorf("fallbacks counted %d, want at least 6", n)
	}
}

func TestStaleBeatsFallback(t *testing.T) {
	h := newHarness(t, degradeRoutes)
	o := newVersionedOrigin(h.origin)
	o.cc.Store("max-age=1, stale-if-error=60")
	first := h.get("/fbc/7", "")
	if first.status != 200 || first.header.Get("X-Cache") != "MISS" {
		t.Fatalf("first: %d %q", first.status, first.header.Get("X-Cache"))
	}
	o.extra.Store(func(ctx *fasthttp.RequestCtx) bool {
		ctx.SetStatusCode(503)
		return true
	})
	r := h.pollCache(t, "/fbc/7", nil, "STALE")
	if r.body != first.body {
		t.Fatalf("stale body %q, want %q", r.body, first.body)
	}
	// A key never stored has nothing stale: the fallback answers.
	wantFallback(t, "new key", h.get("/fbc/8", ""))
}

func TestBreakerOpensAndReadyzNamesTarget(t *testing.T) {
	h := newHarness(t, degradeRoutes)
	var hits atomic.Int64
	h.origin.serve(func(ctx *fasthttp.RequestCtx) {
		hits.Add(1)
		ctx.SetStatusCode(502)
	})
	for range 10 {
		wantFallback(t, "failing origin", h.get("/fb/1", ""))
	}
	if n := hits.Load(); n != 3 {
		t.Errorf("origin saw %d requests, want 3: the breaker opens after 3 failures", n)
	}
	// Without a fallback the open breaker is a 503 that says so.
	if r := h.get("/open/x", ""); r.status != 503 || r.err.Code != "upstream_circuit_open" {
		t.Fatalf("route without fallback: %d %q", r.status, r.err.Code)
	}
	resp, err := http.Get(h.admin + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rd struct {
		Status string `json:"status"`
		Checks map[string]struct {
			Status string          `json:"status"`
			Detail json.RawMessage `json:"detail"`
		} `json:"checks"`
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &rd); err != nil {
		t.Fatalf("readyz: %v: %s", err, b)
	}
	c := rd.Checks["upstream:origin"]
	var targets []upstream.TargetStatus
	_ = json.Unmarshal(c.Detail, &targets)
	if rd.Status != "degraded" || c.Status != "down" || len(targets) != 1 || targets[0].Breaker != "open" {
		t.Fatalf("readyz = %s", b)
	}
	m := h.metrics(t)
	for _, want := range []string{
		`tiercel_upstream_breaker_state{state="open",target="` + h.origin.ln.Addr().String() + `",upstream="origin"} 1`,
		`tiercel_upstream_breaker_rejections_total{upstream="origin"}`,
		`tiercel_fallbacks_total 10`,
		`cache="fallback"`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestShedOverMaxInFlight(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 8)
	h := newHarness(t, func(c *Config) {
		degradeRoutes(c)
		c.Server.MaxInFlight = 1
	})
	h.origin.serve(func(ctx *fasthttp.RequestCtx) {
		if strings.HasSuffix(string(ctx.Path()), "/hold") {
			entered <- struct{}{}
			<-release
		}
		ctx.SetBodyString(`{"id":"` + string(ctx.Path()) + `"}`)
	})
	cached := h.get("/fbc/warm", "")
	if cached.status != 200 {
		t.Fatalf("warm: %d", cached.status)
	}
	h.srv.current().cache.Wait()
	done := make(chan reply, 1)
	go func() { done <- h.do("GET", "/open/hold", "", nil, nil) }()
	<-entered // one request in flight: the limit

	if r := h.get("/fbc/warm", ""); r.status != 200 || r.header.Get("X-Cache") != "HIT-L1" || r.body != cached.body {
		t.Errorf("cached key while shedding: %d %q %q", r.status, r.header.Get("X-Cache"), r.body)
	}
	wantFallback(t, "uncached key while shedding", h.get("/fbc/cold", ""))
	r := h.get("/open/x", "")
	if r.status != 503 || r.err.Code != "overloaded" || r.header.Get("Retry-After") != "1" {
		t.Errorf("no cache, no fallback while shedding: %d %q Retry-After=%q", r.status, r.err.Code, r.header.Get("Retry-After"))
	}
	close(release)
	if r := <-done; r.status != 200 {
		t.Fatalf("the admitted request: %d", r.status)
	}
	if r := h.get("/open/y", ""); r.status != 200 {
		t.Errorf("after the load went: %d %q", r.status, r.err.Code)
	}
	if n := h.srv.stats.shed.Load(); n != 3 {
		t.Errorf("shed %d, want 3", n)
	}
}

func TestFallbackConfigValidation(t *testing.T) {
	f := func(fb *RouteFallback, handler string, want string) {
		t.Helper()
		c := testConfig("127.0.0.1:1")
		r := RouteConfig{Name: "x", Path: "/x", Upstream: "origin", Auth: RouteAuth{Mode: "none"}, Fallback: fb}
		if handler != "" {
			r.Upstream, r.Handler = "", handler
		}
		c.Routes = append(c.Routes, r)
		c.SetDefaults()
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to mention %q", err, want)
		}
	}
	f(&RouteFallback{Status: 99}, "", "routes[5].fallback.status: 99 is not an HTTP status")
	f(&RouteFallback{Headers: map[string]string{"bad name": "x"}}, "", `fallback.headers: "bad name" is not a header name`)
	f(&RouteFallback{Body: "{}"}, "features", "fallback: built-in handlers have their own defaults")
}

func TestOpenRoutesNeedNoIssuer(t *testing.T) {
	c := Config{
		Upstreams: []upstream.Config{{Name: "o", Targets: []string{"127.0.0.1:9"}}},
		Routes:    []RouteConfig{{Name: "r", Path: "/x", Upstream: "o", Auth: RouteAuth{Mode: "none"}}},
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("open routes only: %v", err)
	}
	c.Routes[0].Auth.Mode = "required"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "routes[0].auth.mode: required needs at least one auth.issuers entry") {
		t.Fatalf("err = %v", err)
	}
}
