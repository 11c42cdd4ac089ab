package gateway

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/valyala/fasthttp"

	"github.com/tiercel/tiercel/gateway/auth"
	"github.com/tiercel/tiercel/gateway/ratelimit"
	"github.com/tiercel/tiercel/gateway/upstream"
)

const testSecret = "gateway-test-secret-at-least-32-bytes-long"

// testOrigin is a real loopback HTTP server standing in for an upstream. It
// records the last request's headers and can be told to hang or fail.
type testOrigin struct {
	ln     net.Listener
	srv    *fasthttp.Server
	hits   atomic.Int64
	hang   chan struct{} // closed when hanging requests may return
	mode   atomic.Value  // "", "hang", "500"
	custom atomic.Pointer[fasthttp.RequestHandler]
	mu     sync.Mutex
	last   http.Header
	lastRQ string
}

func startOrigin(t *testing.T) *testOrigin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &testOrigin{ln: ln, hang: make(chan struct{})}
	o.mode.Store("")
	o.srv = &fasthttp.Server{Handler: o.handle}
	done := make(chan struct{})
	go func() { defer close(done); _ = o.srv.Serve(ln) }()
	t.Cleanup(func() {
		o.release()
		_ = o.srv.Shutdown()
		<-done
	})
	return o
}

func (o *testOrigin) release() {
	o.mu.Lock()
	defer o.mu.Unlock()
	select {
	case <-o.hang:
	default:
		close(o.hang)
	}
}

func (o *testOrigin) handle(ctx *fasthttp.RequestCtx) {
	o.hits.Add(1)
	h := http.Header{}
	for k, v := range ctx.Request.Header.All() {
		h.Add(string(k), string(v))
	}
	o.mu.Lock()
	o.last, o.lastRQ = h, string(ctx.RequestURI())
	o.mu.Unlock()
	if h := o.custom.Load(); h != nil {
		(*h)(ctx)
		return
	}
	switch o.mode.Load().(string) {
	case "hang":
		<-o.hang
	case "500":
		ctx.Response.Header.Set("X-Origin", "yes")
		ctx.SetStatusCode(500)
		ctx.SetBodyString(`{"oops":true}`)
		return
	}
	ctx.Response.Header.Set("Connection", "keep-alive")
	ctx.Response.Header.Set("Keep-Alive", "timeout=5")
	ctx.Response.Header.Set("X-Origin", "yes")
	ctx.SetContentType("application/json")
	ctx.SetBodyString(`{"path":"` + string(ctx.Path()) + `","version":1}`)
}

// serve replaces the origin's behaviour for the rest of the test.
func (o *testOrigin) serve(h fasthttp.RequestHandler) { o.custom.Store(&h) }

func (o *testOrigin) lastHeaders() (http.Header, string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.last, o.lastRQ
}

// harness is a gateway on loopback ports with one HS256 issuer, one origin
// and a few routes.
type harness struct {
	t      *testing.T
	srv    *Server
	origin *testOrigin
	base   string
	admin  string
	client *http.Client
}

func testConfig(origin string) Config {
	return Config{
		// No drain delay: no balancer sends to a test's gateway (drain_test.go
		// sets one).
		Server: ServerConfig{Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:0", MaxBodyBytes: 1024, ShutdownTimeout: 5 * time.Second, DrainDelay: -1},
		Auth: auth.Config{Issuers: []auth.IssuerConfig{{
			Name: "test", Issuer: "https://issuer.test", Audiences: []string{"tiercel"},
			Algorithms: []string{"HS256"}, Keys: []auth.KeyConfig{{KID: "k1", Secret: testSecret}},
		}}},
		RateLimit: ratelimit.Config{Policies: map[string]ratelimit.Policy{
			"small": {Rate: 1, Burst: 3, Key: "subject"},
			"big":   {Rate: 1e9, Burst: 1e9, Key: "subject"}, // admits any benchmark loop
		}},
		Upstreams: []upstream.Config{{Name: "origin", Targets: []string{origin}}},
		Routes: []RouteConfig{
			{Name: "products", Path: "/api/products/{id}", Upstream: "origin", Auth: RouteAuth{Scopes: []string{"products:read"}}, RateLimit: "big"},
			{Name: "limited", Path: "/api/limited/{id}", Upstream: "origin", RateLimit: "small"},
			{Name: "open", Path: "/open/{rest...}", Methods: []string{"GET", "POST"}, Upstream: "origin", Auth: RouteAuth{Mode: "none"}},
			{Name: "maybe", Path: "/maybe", Upstream: "origin", Auth: RouteAuth{Mode: "optional"}},
			{Name: "slow", Path: "/slow", Upstream: "origin", Auth: RouteAuth{Mode: "none"}, Timeout: 150 * time.Millisecond},
		},
	}
}

func newHarness(t *testing.T, mutate func(*Config)) *harness {
	t.Helper()
	o := startOrigin(t)
	h := startReplica(t, o.ln.Addr().String(), mutate)
	h.origin = o
	return h
}

// startReplica starts a gateway with the test config in front of the
// origin at originAddr; replicas started with one Redis URL share L2.
func startReplica(t *testing.T, originAddr string, mutate func(*Config)) *harness {
	t.Helper()
	cfg := testConfig(originAddr)
	if mutate != nil {
		mutate(&cfg)
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	srv, err := New(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	return &harness{
		t: t, srv: srv,
		base:   "http://" + srv.Addr(),
		admin:  "http://" + srv.AdminAddr(),
		client: &http.Client{Timeout: 5 * time.Second},
	}
}

// token signs claims on top of valid defaults; a nil value deletes a claim.
func token(t testing.TB, over jwt.MapClaims) string {
	t.Helper()
	now := time.Now()
	c := jwt.MapClaims{
		"iss": "https://issuer.test", "aud": "tiercel", "sub": "alice",
		"scope": "products:read", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
	for k, v := range over {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	tok.Header["kid"] = "k1"
	s, err := tok.SignedString([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type reply struct {
	status int
	header http.Header
	body   string
	err    struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"request_id"`
	}
}

func (h *harness) do(method, path, tok string, body io.Reader, hdr map[string]string) reply {
	h.t.Helper()
	req, err := http.NewRequest(method, h.base+path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
	if resp.StatusCode >= 400 && resp.Header.Get("X-Origin") == "" && !feastShaped(path, b) {
		var env struct {
			Error json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal(b, &env); err != nil || env.Error == nil {
			h.t.Fatalf("%s %s: status %d with a body that is not the JSON error shape: %q", method, path, resp.StatusCode, b)
		}
		_ = json.Unmarshal(env.Error, &r.err)
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			h.t.Fatalf("%s %s: error with Content-Type %q", method, path, ct)
		}
	}
	return r
}

func (h *harness) get(path, tok string) reply { return h.do("GET", path, tok, nil, nil) }

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// ttl is a route's cache.ttl as the config holds it.
func ttl(d time.Duration) *time.Duration { return &d }
