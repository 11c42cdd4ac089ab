package gateway

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tiercel/tiercel/gateway/auth"
	"github.com/tiercel/tiercel/gateway/upstream"
	"github.com/tiercel/tiercel/internal/testwait"
)

// reloadConfig is the harness's config with the cached routes, on origin,
// changed by mutate; defaults applied and validated, as a Loader returns it.
func reloadConfig(t *testing.T, origin string, mutate func(*Config)) Config {
	t.Helper()
	cfg := testConfig(origin)
	cachedRoutes("")(&cfg)
	if mutate != nil {
		mutate(&cfg)
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

// TestReloadSwapsRoutesKeepingState: a reload that adds a route and an
// upstream and moves a route to it serves both right after, while the L1
// entries of an unchanged cached route and the buckets of an unchanged
// limited route survive.
func TestReloadSwapsRoutesKeepingState(t *testing.T) {
	h := newHarness(t, cachedRoutes(""))
	newVersionedOrigin(h.origin)
	two := startOrigin(t)
	two.serve(func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("X-Which", "two")
		ctx.SetBodyString(`{"from":"two"}`)
	})
	if r := h.get("/c/products/1", ""); r.header.Get("X-Cache") != "MISS" {
		t.Fatalf("first read: %q", r.header.Get("X-Cache"))
	}
	h.srv.current().cache.Wait()
	if r := h.get("/c/products/1", ""); r.header.Get("X-Cache") != "HIT-L1" {
		t.Fatalf("second read: %q", r.header.Get("X-Cache"))
	}
	tok := token(t, nil)
	for i := range 3 { // "small": a burst of 3
		if r := h.get("/api/limited/1", tok); r.status != 200 {
			t.Fatalf("limited request %d: %d", i, r.status)
		}
	}
	if r := h.get("/api/limited/1", tok); r.status != 429 {
		t.Fatalf("over the burst: %d", r.status)
	}
	if r := h.get("/added", ""); r.status != 404 {
		t.Fatalf("/added before the reload: %d", r.status)
	}
	before := h.srv.current()

	err := h.srv.Reload(reloadConfig(t, h.origin.ln.Addr().String(), func(c *Config) {
		c.Upstreams = append(c.Upstreams, upstream.Config{Name: "two", Targets: []string{two.ln.Addr().String()}})
		c.Routes = append(c.Routes, RouteConfig{Name: "added", Path: "/added", Upstream: "two", Auth: RouteAuth{Mode: "none"}})
		for i := range c.Routes {
			if c.Routes[i].Name == "open" {
				c.Routes[i].Upstream = "two"
			}
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	after := h.srv.current()
	if after == before || after.cache != before.cache || after.limiter != before.limiter ||
		after.verifier != before.verifier || after.pools["origin"] != before.pools["origin"] {
		t.Fatal("the reload rebuilt components whose settings did not change")
	}
	if r := h.get("/added", ""); r.status != 200 || r.header.Get("X-Which") != "two" {
		t.Fatalf("added route: %d %q", r.status, r.body)
	}
	if r := h.get("/open/x", ""); r.status != 200 || r.header.Get("X-Which") != "two" {
		t.Fatalf("moved route: %d %q", r.status, r.body)
	}
	if r := h.get("/c/products/1", ""); r.header.Get("X-Cache") != "HIT-L1" {
		t.Fatalf("unchanged cached route after the reload: %q", r.header.Get("X-Cache"))
	}
	if r := h.get("/api/limited/1", tok); r.status != 429 {
		t.Fatalf("the reload refilled an unchanged route's bucket: %d", r.status)
	}
	if m := h.metrics(t); !strings.Contains(m, `tiercel_config_reloads_total{result="ok"} 1`) ||
		!strings.Contains(m, "tiercel_config_last_reload_successful 1") {
		t.Fatalf("/metrics after a reload:\n%s", grepLines(m, "config_"))
	}

	// A changed policy is a new budget: the route's bucket starts full.
	err = h.srv.Reload(reloadConfig(t, h.origin.ln.Addr().String(), func(c *Config) {
		p := c.RateLimit.Policies["small"]
		p.Burst = 4
		c.RateLimit.Policies["small"] = p
	}))
	if err != nil {
		t.Fatal(err)
	}
	if r := h.get("/api/limited/1", tok); r.status != 200 || r.header.Get("RateLimit-Limit") != "4" {
		t.Fatalf("changed policy: %d, limit %q", r.status, r.header.Get("RateLimit-Limit"))
	}
	if r := h.get("/added", ""); r.status != 404 {
		t.Fatalf("/added after a reload without it: %d", r.status)
	}
}

// TestReloadKeepsInFlightRequestsOnTheirGeneration: a request that started
// before a reload finishes on the config it started with, even when the
// reload removes its route and replaces its upstream.
func TestReloadKeepsInFlightRequestsOnTheirGeneration(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		for i := range c.Routes {
			if c.Routes[i].Name == "slow" {
				c.Routes[i].Timeout = 10 * time.Second
			}
		}
	})
	release := make(chan struct{})
	h.origin.serve(func(ctx *fasthttp.RequestCtx) {
		<-release
		ctx.SetBodyString("finished")
	})
	done := make(chan reply, 1)
	go func() { done <- h.get("/slow", "") }()
	testwait.For(t, 5*time.Second, "the request at the origin", func() bool { return h.origin.hits.Load() == 1 })
	err := h.srv.Reload(reloadConfig(t, h.origin.ln.Addr().String(), func(c *Config) {
		c.Upstreams[0].MaxConnsPerTarget = 77 // a new pool for "origin"
		c.Routes = slices.DeleteFunc(c.Routes, func(r RouteConfig) bool { return r.Name == "slow" })
	}))
	if err != nil {
		t.Fatal(err)
	}
	if r := h.get("/slow", ""); r.status != 404 {
		t.Fatalf("/slow after the reload: %d", r.status)
	}
	close(release)
	if r := <-done; r.status != 200 || r.body != "finished" {
		t.Fatalf("in-flight request: %d %q", r.status, r.body)
	}
}

// TestReloadRejectsInvalidConfig: a config that does not load changes
// nothing; the Loader's message (what `tiercel validate` prints) comes
// back from ReloadConfig and POST /admin/reload, and is counted.
func TestReloadRejectsInvalidConfig(t *testing.T) {
	h := newHarness(t, nil)
	before := h.srv.current()
	h.srv.SetLoader(func() (Config, error) {
		cfg := testConfig(h.origin.ln.Addr().String())
		cfg.Routes[0].Upstream = "nope"
		cfg.SetDefaults()
		return cfg, fmt.Errorf("tiercel.yaml: %w", cfg.Validate())
	})
	const want = `tiercel.yaml: routes[0].upstream: no upstream named "nope"`
	if err := h.srv.ReloadConfig(); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("ReloadConfig: %v", err)
	}
	resp, body := h.postAdmin(t, "/admin/reload")
	if resp.StatusCode != 422 || !strings.Contains(body, `"code":"invalid_config"`) || !strings.Contains(body, `no upstream named \"nope\"`) {
		t.Fatalf("POST /admin/reload: %d %s", resp.StatusCode, body)
	}
	if h.srv.current() != before {
		t.Fatal("a rejected reload swapped the generation")
	}
	if r := h.get("/open/x", ""); r.status != 200 {
		t.Fatalf("after a rejected reload: %d", r.status)
	}
	if m := h.metrics(t); !strings.Contains(m, `tiercel_config_reloads_total{result="invalid"} 2`) ||
		!strings.Contains(m, "tiercel_config_last_reload_successful 0") {
		t.Fatalf("/metrics after rejected reloads:\n%s", grepLines(m, "config_"))
	}

	// Fixed: the admin endpoint reloads.
	h.srv.SetLoader(func() (Config, error) { return reloadConfig(t, h.origin.ln.Addr().String(), nil), nil })
	resp, body = h.postAdmin(t, "/admin/reload")
	if resp.StatusCode != 200 || !strings.Contains(body, `"status":"reloaded"`) {
		t.Fatalf("POST /admin/reload: %d %s", resp.StatusCode, body)
	}
	if r := h.get("/c/products/1", ""); r.status != 200 {
		t.Fatalf("a route the reload added: %d", r.status)
	}
}

// TestReloadRefusesRestartOnlySettings: listeners, their limits, the admin
// credentials, Redis, Kafka and the log format are named, and nothing
// changes.
func TestReloadRefusesRestartOnlySettings(t *testing.T) {
	t.Setenv("RELOAD_TEST_ADMIN_TOKEN", strings.Repeat("t", 32))
	h := newHarness(t, nil)
	before := h.srv.current()
	err := h.srv.Reload(reloadConfig(t, h.origin.ln.Addr().String(), func(c *Config) {
		c.Server.Listen = "127.0.0.1:1"
		c.Server.ReadTimeout = time.Minute
		c.Server.Admin.TokenEnv = "RELOAD_TEST_ADMIN_TOKEN"
		c.Server.DefaultTimeout = time.Second // reloadable
		c.Redis.URL = "redis://127.0.0.1:1"
		c.Kafka.Brokers = []string{"127.0.0.1:1"}
		c.Log.Format = "json"
		c.Log.Access = true // reloadable
	}))
	if !errors.Is(err, ErrRestartRequired) {
		t.Fatalf("err %v", err)
	}
	for _, f := range []string{"server.listen", "server.read_timeout", "server.admin.token_env", "redis.url", "kafka.brokers", "log.format"} {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("%q does not name %s", err, f)
		}
	}
	for _, f := range []string{"default_timeout", "log.access", "routes"} {
		if strings.Contains(err.Error(), f) {
			t.Errorf("%q names %s, which a reload applies", err, f)
		}
	}
	if h.srv.current() != before {
		t.Fatal("a refused reload swapped the generation")
	}
	if m := h.metrics(t); !strings.Contains(m, `tiercel_config_reloads_total{result="restart_required"} 1`) {
		t.Fatalf("/metrics:\n%s", grepLines(m, "config_"))
	}
}

func (h *harness) postAdmin(t *testing.T, path string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Post(h.admin+path, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// TestReloadRefusesIssuerWithoutKeys: a reload whose new issuer's JWKS
// cannot be fetched would answer 401 to its tokens; it is refused, and
// the old issuers keep verifying.
func TestReloadRefusesIssuerWithoutKeys(t *testing.T) {
	h := newHarness(t, nil)
	before := h.srv.current()
	err := h.srv.Reload(reloadConfig(t, h.origin.ln.Addr().String(), func(c *Config) {
		c.Auth.Issuers = append(c.Auth.Issuers, auth.IssuerConfig{Name: "remote", Issuer: "https://remote.test",
			Algorithms: []string{"RS256"}, JWKSURL: "http://127.0.0.1:1/jwks", JWKSRefresh: time.Hour})
	}))
	if err == nil || !strings.Contains(err.Error(), "auth.issuers: remote") {
		t.Fatalf("err %v", err)
	}
	if h.srv.current() != before {
		t.Fatal("a failed reload swapped the generation")
	}
	if r := h.get("/api/products/1", token(t, nil)); r.status != 200 {
		t.Fatalf("after a failed reload: %d", r.status)
	}
	if m := h.metrics(t); !strings.Contains(m, `tiercel_config_reloads_total{result="error"} 1`) {
		t.Fatalf("/metrics:\n%s", grepLines(m, "config_"))
	}
}
