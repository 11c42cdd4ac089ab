package gateway

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tiercel/tiercel/internal/testwait"
)

func TestProxiesWithValidToken(t *testing.T) {
	h := newHarness(t, nil)
	r := h.do("GET", "/api/products/42?color=red", token(t, nil), nil, map[string]string{
		"X-Request-ID":    "client-req-1",
		"X-Forwarded-For": "203.0.113.9",
		"Connection":      "X-Secret-Hop",
		"X-Secret-Hop":    "must-not-pass",
	})
	if r.status != 200 || !strings.Contains(r.body, `"path":"/api/products/42"`) {
		t.Fatalf("status %d body %q", r.status, r.body)
	}
	if got := r.header.Get("X-Request-ID"); got != "client-req-1" {
		t.Fatalf("X-Request-ID %q, want the client's", got)
	}
	if r.header.Get("X-Origin") != "yes" || r.header.Get("Keep-Alive") != "" {
		t.Fatalf("response headers not copied or hop-by-hop not stripped: %v", r.header)
	}
	for _, name := range []string{"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Server-Timing"} {
		if r.header.Get(name) == "" {
			t.Fatalf("missing %s in %v", name, r.header)
		}
	}
	if st := r.header.Get("Server-Timing"); !strings.Contains(st, "auth;dur=") || !strings.Contains(st, "origin;dur=") {
		t.Fatalf("Server-Timing %q lacks stages", st)
	}
	hdr, uri := h.origin.lastHeaders()
	if uri != "/api/products/42?color=red" {
		t.Fatalf("origin saw %q", uri)
	}
	if got := hdr.Get("X-Forwarded-For"); got != "203.0.113.9, 127.0.0.1" {
		t.Fatalf("X-Forwarded-For %q", got)
	}
	if hdr.Get("X-Forwarded-Proto") != "http" || hdr.Get("X-Forwarded-Host") == "" || hdr.Get("X-Request-ID") != "client-req-1" {
		t.Fatalf("forwarding headers: %v", hdr)
	}
	if hdr.Get("X-Secret-Hop") != "" {
		t.Fatalf("a header named in Connection reached the origin")
	}
}

func TestRequestIDGeneratedWhenMissingOrInvalid(t *testing.T) {
	h := newHarness(t, nil)
	seen := map[string]bool{}
	for _, id := range []string{"", "bad id with spaces", strings.Repeat("a", 200)} {
		r := h.do("GET", "/nope", "", nil, map[string]string{"X-Request-ID": id})
		got := r.header.Get("X-Request-ID")
		if len(got) != 32 || got == id || seen[got] {
			t.Fatalf("request id %q for client id %q", got, id)
		}
		if r.err.RequestID != got {
			t.Fatalf("error body request_id %q, header %q", r.err.RequestID, got)
		}
		seen[got] = true
	}
}

func TestTokenRejections(t *testing.T) {
	h := newHarness(t, nil)
	now := time.Now()
	f := func(name, tok, wantCode string) {
		t.Helper()
		r := h.get("/api/products/1", tok)
		if r.status != 401 || r.err.Code != wantCode {
			t.Fatalf("%s: status %d code %q, want 401 %q (%s)", name, r.status, r.err.Code, wantCode, r.body)
		}
		if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("%s: no WWW-Authenticate challenge", name)
		}
	}
	good := token(t, nil)
	f("missing", "", "missing")
	f("bad signature", good[:len(good)-4]+"AAAA", "bad_signature")
	f("alg none", unsignedToken(t), "algorithm")
	f("expired", token(t, jwt.MapClaims{"exp": now.Add(-time.Hour).Unix()}), "expired")
	f("no exp", token(t, jwt.MapClaims{"exp": nil}), "malformed")
	f("not yet valid", token(t, jwt.MapClaims{"nbf": now.Add(time.Hour).Unix()}), "not_yet_valid")
	f("wrong issuer", token(t, jwt.MapClaims{"iss": "https://evil.test"}), "issuer")
	f("wrong audience", token(t, jwt.MapClaims{"aud": "someone-else"}), "audience")
	f("garbage", "not.a.jwt", "malformed")
	f("oversized", strings.Repeat("a", 8200), "too_large")

	kid := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": "https://issuer.test", "aud": "tiercel", "exp": now.Add(time.Hour).Unix()})
	kid.Header["kid"] = "nope"
	s, _ := kid.SignedString([]byte(testSecret))
	f("unknown kid", s, "unknown_kid")

	// Only the Bearer scheme counts: a token in a query string or a Basic
	// header is not a token.
	r := h.do("GET", "/api/products/1?access_token="+good, "", nil, map[string]string{"Authorization": "Basic " + good})
	if r.status != 401 {
		t.Fatalf("non-bearer credentials: status %d", r.status)
	}
}

func unsignedToken(t *testing.T) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{
		"iss": "https://issuer.test", "aud": "tiercel", "sub": "mallory", "scope": "products:read",
		"exp": time.Now().Add(time.Hour).Unix(),
	})
	s, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestScopes(t *testing.T) {
	h := newHarness(t, nil)
	r := h.get("/api/products/1", token(t, jwt.MapClaims{"scope": "other:read"}))
	if r.status != 403 || r.err.Code != "insufficient_scope" {
		t.Fatalf("status %d code %q", r.status, r.err.Code)
	}
	if r := h.get("/api/products/1", token(t, jwt.MapClaims{"scope": []string{"x", "products:read"}})); r.status != 200 {
		t.Fatalf("array scope claim: status %d", r.status)
	}
}

func TestAuthModes(t *testing.T) {
	h := newHarness(t, nil)
	if r := h.get("/open/anything/here", ""); r.status != 200 {
		t.Fatalf("auth none: %d", r.status)
	}
	if r := h.get("/maybe", ""); r.status != 200 {
		t.Fatalf("auth optional without token: %d", r.status)
	}
	if r := h.get("/maybe", "garbage"); r.status != 401 {
		t.Fatalf("auth optional with a bad token must still fail: %d", r.status)
	}
	if r := h.get("/maybe", token(t, nil)); r.status != 200 {
		t.Fatalf("auth optional with token: %d", r.status)
	}
}

func TestRateLimit(t *testing.T) {
	h := newHarness(t, nil)
	alice, bob := token(t, nil), token(t, jwt.MapClaims{"sub": "bob"})
	for i := 0; i < 3; i++ {
		r := h.get("/api/limited/1", alice)
		if r.status != 200 {
			t.Fatalf("request %d: status %d", i, r.status)
		}
		if got := r.header.Get("RateLimit-Remaining"); got != strconv.Itoa(2-i) {
			t.Fatalf("request %d: RateLimit-Remaining %q", i, got)
		}
	}
	r := h.get("/api/limited/1", alice)
	if r.status != 429 || r.err.Code != "rate_limited" {
		t.Fatalf("over the limit: status %d code %q", r.status, r.err.Code)
	}
	if r.header.Get("Retry-After") != "1" || r.header.Get("RateLimit-Limit") != "3" || r.header.Get("RateLimit-Remaining") != "0" {
		t.Fatalf("429 headers: %v", r.header)
	}
	if r := h.get("/api/limited/1", bob); r.status != 200 {
		t.Fatalf("another subject shares alice's bucket: %d", r.status)
	}
}

func TestRouting(t *testing.T) {
	h := newHarness(t, nil)
	if r := h.get("/nowhere", ""); r.status != 404 || r.err.Code != "not_found" {
		t.Fatalf("unknown route: %d %q", r.status, r.err.Code)
	}
	r := h.do("DELETE", "/api/products/1", token(t, nil), nil, nil)
	if r.status != 405 || r.header.Get("Allow") != "GET, HEAD" {
		t.Fatalf("wrong method: %d Allow=%q", r.status, r.header.Get("Allow"))
	}
}

func TestOversizedHeaders(t *testing.T) {
	h := newHarness(t, nil)
	r := h.do("GET", "/open/x", "", nil, map[string]string{"X-Big": strings.Repeat("b", 20<<10)})
	if r.status != 431 || r.err.Code != "headers_too_large" {
		t.Fatalf("status %d code %q", r.status, r.err.Code)
	}
}

func TestOversizedBody(t *testing.T) {
	h := newHarness(t, nil)
	r := h.do("POST", "/open/upload", "", strings.NewReader(strings.Repeat("x", 4096)), nil)
	if r.status != 413 || r.err.Code != "body_too_large" {
		t.Fatalf("status %d code %q", r.status, r.err.Code)
	}
	if r := h.do("POST", "/open/upload", "", strings.NewReader("small"), nil); r.status != 200 {
		t.Fatalf("small body: %d", r.status)
	}
}

func TestUpstreamFailures(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		dead := ln.Addr().String()
		ln.Close()
		h := newHarness(t, func(c *Config) { c.Upstreams[0].Targets = []string{dead} })
		if r := h.get("/open/x", ""); r.status != 502 || r.err.Code != "upstream_unavailable" {
			t.Fatalf("status %d code %q", r.status, r.err.Code)
		}
	})
	t.Run("hung", func(t *testing.T) {
		h := newHarness(t, nil)
		h.origin.mode.Store("hang")
		start := time.Now()
		r := h.get("/slow", "")
		if r.status != 504 || r.err.Code != "upstream_timeout" {
			t.Fatalf("status %d code %q", r.status, r.err.Code)
		}
		if el := time.Since(start); el > 3*time.Second {
			t.Fatalf("a 150ms budget took %v", el)
		}
	})
	t.Run("5xx passes through", func(t *testing.T) {
		h := newHarness(t, nil)
		h.origin.mode.Store("500")
		if r := h.get("/open/x", ""); r.status != 500 || r.body != `{"oops":true}` {
			t.Fatalf("status %d body %q", r.status, r.body)
		}
	})
}

func TestPanicBecomesJSON500(t *testing.T) {
	h := newHarness(t, nil)
	h.srv.current().routes[2].pool = nil // the next request on /open panics in the proxy
	r := h.get("/open/x", "")
	if r.status != 500 || r.err.Code != "internal" {
		t.Fatalf("status %d code %q", r.status, r.err.Code)
	}
	if h.srv.stats.panics.Load() != 1 {
		t.Fatalf("panic not counted")
	}
}

func TestGracefulShutdownDrainsInFlight(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Routes[2].Timeout = 10 * time.Second })
	h.origin.mode.Store("hang")
	var wg sync.WaitGroup
	results := make(chan int, 3)
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(h.base + "/open/inflight")
			if err != nil {
				results <- -1
				return
			}
			resp.Body.Close()
			results <- resp.StatusCode
		}()
	}
	testwait.For(t, 5*time.Second, "3 requests at the origin", func() bool { return h.origin.hits.Load() == 3 })
	done := make(chan error, 1)
	go func() { done <- h.srv.Shutdown(context.Background()) }()
	testwait.For(t, 5*time.Second, "readyz to report draining", func() bool {
		return h.srv.Readiness(context.Background()).Status == "not_ready"
	})
	// New connections are refused once draining started.
	testwait.For(t, 5*time.Second, "listener to close", func() bool {
		c, err := net.DialTimeout("tcp", h.srv.Addr(), 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	h.origin.release()
	wg.Wait()
	close(results)
	for code := range results {
		if code != 200 {
			t.Fatalf("an in-flight request got %d during shutdown", code)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

func TestAdminEndpoints(t *testing.T) {
	h := newHarness(t, nil)
	h.get("/api/products/1", token(t, nil))
	h.get("/api/products/1", "bad")
	for path, want := range map[string]string{
		"/healthz":      `"ok"`,
		"/readyz":       `"upstream:origin"`,
		"/metrics":      `route="products",status="200"`,
		"/debug/pprof/": "goroutine",
	} {
		resp, err := http.Get(h.admin + path)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 1<<20)
		n, _ := readAll(resp, b)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b[:n]), want) {
			t.Fatalf("%s: status %d, want %q in %.400s", path, resp.StatusCode, want, b[:n])
		}
	}
	resp, _ := http.Get(h.admin + "/metrics")
	b := make([]byte, 1<<20)
	n, _ := readAll(resp, b)
	resp.Body.Close()
	for _, want := range []string{`tiercel_auth_failures_total{reason="malformed"} 1`, "tiercel_upstream_requests_total", "tiercel_ratelimit_decisions_total", `tiercel_upstream_request_duration_seconds_count{upstream="origin"}`} {
		if !strings.Contains(string(b[:n]), want) {
			t.Fatalf("/metrics lacks %q", want)
		}
	}
}

func readAll(resp *http.Response, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := resp.Body.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
