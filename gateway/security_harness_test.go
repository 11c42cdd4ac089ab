package gateway

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// The security regression suite runs as an attacker would: two replicas
// sharing one real Redis, in front of an origin that echoes what it
// receives, requests written byte for byte on a TCP connection. Each case
// asserts what a second, ordinary client is served afterwards, on both
// replicas.

// echoOrigin is an origin built on net/http, a parser independent of the
// gateway's fasthttp: what it reports is what a real origin would read. It
// answers with a JSON echo of the request and records every request.
type echoOrigin struct {
	srv *httptest.Server
	mu  sync.Mutex
	log []echoed
	// respond, when set, may add response headers (or write the whole
	// answer and return true).
	respond func(w http.ResponseWriter, r *http.Request) bool
}

// echoed is what the origin received (and what it sends back as the body).
type echoed struct {
	Method  string              `json:"method"`
	URI     string              `json:"uri"`  // the request-target as received
	Path    string              `json:"path"` // net/http's reading of it
	Host    string              `json:"host"`
	Headers map[string][]string `json:"headers"`
	Body    string              `json:"body"`
}

func startEchoOrigin(t testing.TB) *echoOrigin {
	t.Helper()
	o := &echoOrigin{}
	o.srv = httptest.NewServer(http.HandlerFunc(o.handle))
	t.Cleanup(o.srv.Close)
	return o
}

func (o *echoOrigin) addr() string { return strings.TrimPrefix(o.srv.URL, "http://") }

func (o *echoOrigin) handle(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	e := echoed{Method: r.Method, URI: r.RequestURI, Path: r.URL.Path, Host: r.Host, Headers: r.Header, Body: string(body)}
	o.mu.Lock()
	o.log = append(o.log, e)
	respond := o.respond
	o.mu.Unlock()
	if respond != nil && respond(w, r) {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(e)
}

// setRespond replaces the origin's response hook.
func (o *echoOrigin) setRespond(f func(w http.ResponseWriter, r *http.Request) bool) {
	o.mu.Lock()
	o.respond = f
	o.mu.Unlock()
}

// requests returns the requests received since the last call.
func (o *echoOrigin) requests() []echoed {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := o.log
	o.log = nil
	return out
}

// secPair is two replicas sharing Redis in front of one echo origin.
type secPair struct {
	a, b   *harness
	origin *echoOrigin
}

// secRoutes is the attack surface: a public cached catch-all, a protected
// route, a shared cached route keyed on a query parameter and a header, a
// private cached route, and an uncached public proxy.
func secRoutes(redisURL string, mutate func(*Config)) func(*Config) {
	return func(c *Config) {
		if redisURL != "" { // else the Redis set before (sharedRedis.use), if any
			c.Redis.URL = redisURL
		}
		cached := RouteCache{Enabled: true, TTL: ttl(time.Minute)}
		c.Routes = []RouteConfig{
			{Name: "pub", Path: "/pub/{rest...}", Upstream: "origin", Auth: RouteAuth{Mode: "none"}, Cache: cached},
			{Name: "secret", Path: "/api/secret/{id}", Upstream: "origin"},
			{Name: "shared", Path: "/api/shared/{id}", Upstream: "origin", Auth: RouteAuth{Mode: "none"},
				Cache: RouteCache{Enabled: true, TTL: ttl(time.Minute), Key: RouteCacheKey{Query: []string{"lang"}, Headers: []string{"Accept-Language"}}}},
			{Name: "me", Path: "/api/me", Upstream: "origin", Cache: RouteCache{Enabled: true, TTL: ttl(time.Minute), Key: RouteCacheKey{Private: true}}},
			{Name: "raw", Path: "/raw/{rest...}", Methods: []string{"*"}, Upstream: "origin", Auth: RouteAuth{Mode: "none"}},
		}
		if mutate != nil {
			mutate(c)
		}
	}
}

// newSecPairOn is two replicas sharing r.
func newSecPairOn(t *testing.T, r *sharedRedis, mutate func(*Config)) *secPair {
	t.Helper()
	o := startEchoOrigin(t)
	cfg := r.use(secRoutes("", mutate))
	return &secPair{a: startReplica(t, o.addr(), cfg), b: startReplica(t, o.addr(), cfg), origin: o}
}

func (p *secPair) replicas() []*harness { return []*harness{p.a, p.b} }

// settle waits until both replicas' L1 sets are visible (ristretto's Sets
// are asynchronous). L2 writes are queued and sent after the fill returns:
// settleL2 (security_probes_test.go) also waits for them, and rawHit
// retries until a cache answers.
func (p *secPair) settle() {
	p.a.srv.current().cache.Wait()
	p.b.srv.current().cache.Wait()
}

// raw sends one request written byte for byte (the target as given, every
// header line as given, CRLF added) and reads the answer.
func (h *harness) raw(method, target string, lines ...string) reply {
	h.t.Helper()
	conn, err := net.Dial("tcp", h.srv.Addr())
	if err != nil {
		h.t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	b.WriteString(method + " " + target + " HTTP/1.1\r\nHost: gateway.test\r\n")
	for _, l := range lines {
		b.WriteString(l + "\r\n")
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		h.t.Fatal(err)
	}
	req, _ := http.NewRequest(method, "http://gateway.test/", nil)
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		h.t.Fatalf("%s %q: %v", method, target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, body: string(body)}
	if resp.StatusCode >= 400 && resp.Header.Get("Content-Type") == "application/json" {
		var env struct {
			Error json.RawMessage `json:"error"`
		}
		if json.Unmarshal(body, &env) == nil && env.Error != nil {
			_ = json.Unmarshal(env.Error, &r.err)
		}
	}
	return r
}

// rawHit repeats a request until the cache answers it (X-Cache: HIT-L1 or
// HIT-L2), for a check of what later callers are served from it. A fill's
// L2 write can miss its few-millisecond budget on a loaded machine and a
// ristretto Set can be dropped; the fill of a repeated miss stores again.
func (h *harness) rawHit(method, target string, lines ...string) reply {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := h.raw(method, target, lines...)
		if strings.HasPrefix(r.header.Get("X-Cache"), "HIT") {
			return r
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%s %q: never served from the cache (last X-Cache %q)", method, target, r.header.Get("X-Cache"))
		}
		h.srv.current().cache.Wait()
	}
}

// echo decodes an answer that came from the echo origin.
func (r reply) echo(t *testing.T) echoed {
	t.Helper()
	var e echoed
	if err := json.Unmarshal([]byte(r.body), &e); err != nil {
		t.Fatalf("not an origin echo (%d %s): %q", r.status, r.header.Get("X-Cache"), r.body)
	}
	return e
}
