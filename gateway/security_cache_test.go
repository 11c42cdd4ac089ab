package gateway

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Issue 13, item 2: a private route never stores or serves an entry for a
// caller it cannot identify. Tokens of one issuer without sub and tenant
// (client-credentials tokens) used to share one entry: svc-2 got HIT-L2
// with svc-1's answer.
func TestSecurityPrivateNeedsIdentity(t *testing.T) {
	onEachRedis(t, testSecurityPrivateNeedsIdentity)
}

func testSecurityPrivateNeedsIdentity(t *testing.T, rs *sharedRedis) {
	p := newSecPairOn(t, rs, func(c *Config) {
		private := func(name, path string, claims ...string) RouteConfig {
			return RouteConfig{Name: name, Path: path, Upstream: "origin",
				Cache: RouteCache{Enabled: true, TTL: ttl(time.Minute), Key: RouteCacheKey{Private: true, Claims: claims}}}
		}
		c.Routes = append(c.Routes,
			private("by-client", "/api/client", "client_id"),
			private("by-scope", "/api/scoped", "sub", "scope"),
			private("either", "/api/either", "sub?", "client_id?"))
	})
	svc1 := token(t, jwt.MapClaims{"sub": nil, "client_id": "svc-1"})
	svc2 := token(t, jwt.MapClaims{"sub": nil, "client_id": "svc-2"})
	// get returns the answer and the bearer token the origin was sent.
	// getHit repeats until the cache answers (see rawHit).
	get := func(h *harness, path, tok string) (reply, string) {
		t.Helper()
		return answerFor(t, h.raw("GET", path, "Authorization: Bearer "+tok))
	}
	getHit := func(h *harness, path, tok string) (reply, string) {
		t.Helper()
		return answerFor(t, h.rawHit("GET", path, "Authorization: Bearer "+tok))
	}
	want := func(what string, r reply, sentFor, tok, cache string) {
		t.Helper()
		if sentFor != tok || !strings.HasPrefix(r.header.Get("X-Cache"), cache) {
			t.Fatalf("%s: X-Cache %q, answer made for the right caller: %v (want %s)", what, r.header.Get("X-Cache"), sentFor == tok, cache)
		}
	}
	// Default claims (subject required, tenant optional): no sub, no cache.
	for _, h := range p.replicas() {
		r, got := get(h, "/api/me", svc1)
		want("svc-1 on /api/me", r, got, svc1, "BYPASS")
		r, got = get(h, "/api/me", svc2)
		want("svc-2 on /api/me", r, got, svc2, "BYPASS")
	}
	alice := token(t, jwt.MapClaims{"sub": "alice"})
	aliceAcme := token(t, jwt.MapClaims{"sub": "alice", "tenant": "acme"})
	r, got := get(p.a, "/api/me", alice)
	want("alice", r, got, alice, "MISS")
	r, got = get(p.a, "/api/me", aliceAcme)
	want("alice of acme: another caller", r, got, aliceAcme, "MISS")
	p.settle()
	r, got = getHit(p.b, "/api/me", alice)
	want("alice on the other replica", r, got, alice, "HIT")

	// key.claims: [client_id]: service tokens get an entry each.
	r, got = get(p.a, "/api/client", svc1)
	want("svc-1 keyed on client_id", r, got, svc1, "MISS")
	r, got = get(p.a, "/api/client", svc2)
	want("svc-2 keyed on client_id", r, got, svc2, "MISS")
	p.settle()
	r, got = getHit(p.b, "/api/client", svc1)
	want("svc-1 again", r, got, svc1, "HIT")
	if r := p.a.raw("GET", "/api/client", "Authorization: Bearer "+alice); r.header.Get("X-Cache") != "BYPASS" {
		t.Fatalf("a token without client_id: %q", r.header.Get("X-Cache"))
	}

	// key.claims: [sub, scope]: the scopes are a set; fewer scopes, another entry.
	ab := token(t, jwt.MapClaims{"scope": "a b"})
	ba := token(t, jwt.MapClaims{"scope": "b a"})
	a := token(t, jwt.MapClaims{"scope": "a"})
	r, got = get(p.a, "/api/scoped", ab)
	want("scopes a b", r, got, ab, "MISS")
	p.settle()
	r, got = getHit(p.b, "/api/scoped", ab)
	want("scopes a b on the other replica", r, got, ab, "HIT")
	r, got = get(p.b, "/api/scoped", ba)
	want("scopes b a: the same set", r, got, ab, "HIT")
	r, got = get(p.b, "/api/scoped", a)
	want("scope a: fewer scopes", r, got, a, "MISS")

	// Optional claims: either one identifies, none bypasses.
	r, got = get(p.a, "/api/either", svc1)
	want("client_id alone", r, got, svc1, "MISS")
	none := token(t, jwt.MapClaims{"sub": nil})
	r, got = get(p.a, "/api/either", none)
	want("neither claim", r, got, none, "BYPASS")
}

// Claims for the key are checked with the config: a typo fails at start.
func TestKeyClaimsValidation(t *testing.T) {
	f := func(key RouteCacheKey, want string) {
		t.Helper()
		c := RouteCache{Enabled: true, Key: key}
		c.setDefaults()
		errs := strings.Join(c.validate(nil), "; ")
		if want == "" && errs != "" || !strings.Contains(errs, want) {
			t.Fatalf("%+v: %q, want %q", key, errs, want)
		}
	}
	f(RouteCacheKey{Private: true, Claims: []string{"sub", "tenant?", "scope"}}, "")
	f(RouteCacheKey{Claims: []string{"sub"}}, "cache.key.claims: needs private: true")
	f(RouteCacheKey{Private: true, Claims: []string{"sub", "sub?"}}, `cache.key.claims[1]: "sub" is listed twice`)
	f(RouteCacheKey{Private: true, Claims: []string{"sub??"}}, "cache.key.claims[0]")
	f(RouteCacheKey{Private: true, Claims: []string{""}}, "cache.key.claims[0]")
	f(RouteCacheKey{Headers: []string{"connection"}}, "hop-by-hop")
}

// Issue 13, item 3: every field line of Cache-Control and Vary counts (RFC
// 9110 §5.3; RFC 9111 §3, §5.2.2): nginx's add_header in front of an app
// sends "max-age=60" and "no-store" as two lines, and the second one was
// ignored: the next caller got HIT-L1 with the first caller's answer.
func TestSecurityMultiLineHeaders(t *testing.T) {
	onEachRedis(t, testSecurityMultiLineHeaders)
}

func testSecurityMultiLineHeaders(t *testing.T, rs *sharedRedis) {
	p := newSecPairOn(t, rs, nil)
	lines := map[string][][2]string{
		"/pub/stored":  {{"Cache-Control", "max-age=60"}}, // the control: one line is stored
		"/pub/nostore": {{"Cache-Control", "max-age=60"}, {"Cache-Control", "no-store"}},
		"/pub/private": {{"Cache-Control", "max-age=60"}, {"Cache-Control", "private"}},
		"/pub/vary":    {{"Vary", "Accept-Encoding"}, {"Vary", "X-Foo"}},
		"/pub/twice":   {{"Cache-Control", "max-age=60"}, {"Cache-Control", "max-age=0"}}, // conflicting: stale (§4.2.1)
	}
	p.origin.setRespond(func(w http.ResponseWriter, r *http.Request) bool {
		for _, kv := range lines[r.URL.Path] {
			w.Header().Add(kv[0], kv[1])
		}
		return false
	})
	for path := range lines {
		p.a.raw("GET", path, "X-Foo: first-caller")
	}
	p.settle()
	p.origin.requests()
	for path := range lines {
		for _, h := range p.replicas() {
			if path == "/pub/stored" {
				h.rawHit("GET", path) // stored: the test proves something
				p.origin.requests()
				continue
			}
			r := h.raw("GET", path)
			hit := strings.HasPrefix(r.header.Get("X-Cache"), "HIT")
			if hit || len(p.origin.requests()) == 0 {
				t.Fatalf("%s: a second caller was served from the cache (%q)", path, r.header.Get("X-Cache"))
			}
			if strings.Contains(r.body, "first-caller") {
				t.Fatalf("%s: got the first caller's answer", path)
			}
		}
	}
}

// Issue 13, item 4: hop-by-hop headers (RFC 9110 §7.6.1), the standard set
// and those the origin's Connection lines name, are dropped before storing
// and before forwarding. They were stored and replayed from the cache.
func TestSecurityHopByHopNeverStored(t *testing.T) {
	onEachRedis(t, testSecurityHopByHopNeverStored)
}

func testSecurityHopByHopNeverStored(t *testing.T, rs *sharedRedis) {
	p := newSecPairOn(t, rs, nil)
	p.origin.setRespond(func(w http.ResponseWriter, r *http.Request) bool {
		// Written byte for byte: net/http's server rewrites Connection.
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return false
		}
		defer conn.Close()
		body := `{"uri":"` + r.RequestURI + `"}`
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: max-age=60\r\n"+
			"Connection: X-Hop-A\r\nConnection: x-hop-b, keep-alive\r\nX-Hop-A: secret-a\r\nX-Hop-B: secret-b\r\n"+
			"Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nX-End-To-End: kept\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		_ = buf.Flush()
		return true
	})
	check := func(what string, r reply) {
		t.Helper()
		if r.status != 200 || r.header.Get("X-End-To-End") != "kept" {
			t.Fatalf("%s: %d %v", what, r.status, r.header)
		}
		for _, k := range []string{"X-Hop-A", "X-Hop-B", "Keep-Alive", "Proxy-Connection"} {
			if v := r.header.Values(k); len(v) > 0 {
				t.Fatalf("%s (%s): %s %q reached the client", what, r.header.Get("X-Cache"), k, v)
			}
		}
	}
	check("the fill's caller", p.a.raw("GET", "/pub/hop"))
	check("the proxied caller", p.a.raw("GET", "/raw/hop"))
	p.settle()
	for _, h := range p.replicas() {
		check("a later caller", h.rawHit("GET", "/pub/hop"))
	}
}

// Issue 13, item 6: a fill carries the gateway's own request id, never the
// caller's X-Request-ID: an origin echoing it would store the attacker's
// value in a shared entry. The caller still gets its own id back, and a
// proxied (unstored) request still forwards it.
func TestSecurityRequestIDNotShared(t *testing.T) {
	onEachRedis(t, testSecurityRequestIDNotShared)
}

func testSecurityRequestIDNotShared(t *testing.T, rs *sharedRedis) {
	p := newSecPairOn(t, rs, nil)
	const evil = "attacker-chosen-4242"
	r := p.a.raw("GET", "/pub/rid", "X-Request-ID: "+evil)
	if got := r.echo(t).Headers["X-Request-Id"]; r.header.Get("X-Request-Id") != evil || len(got) != 1 || got[0] == evil {
		t.Fatalf("fill: caller got id %q, origin got %q", r.header.Get("X-Request-Id"), got)
	}
	p.settle()
	for _, h := range p.replicas() {
		r := h.rawHit("GET", "/pub/rid")
		if strings.Contains(r.body, evil) || r.header.Get("X-Request-Id") == evil {
			t.Fatalf("a later caller: %q %q id %q", r.header.Get("X-Cache"), r.body, r.header.Get("X-Request-Id"))
		}
	}
	// Without a caller's id, the fill carries the one the caller is given.
	r = p.a.raw("GET", "/pub/rid2")
	if got := r.echo(t).Headers["X-Request-Id"]; len(got) != 1 || got[0] != r.header.Get("X-Request-Id") {
		t.Fatalf("generated id: origin %q, caller %q", got, r.header.Get("X-Request-Id"))
	}
	if r := p.a.raw("GET", "/raw/rid", "X-Request-ID: "+evil); r.echo(t).Headers["X-Request-Id"][0] != evil {
		t.Fatalf("a proxied request lost its caller's id: %q", r.body)
	}
}

// Authorization is not a list: with two lines, the token checked would not
// be the one an origin reading the last line trusts.
func TestSecurityDuplicateAuthorization(t *testing.T) {
	onEachRedis(t, testSecurityDuplicateAuthorization)
}

func testSecurityDuplicateAuthorization(t *testing.T, rs *sharedRedis) {
	p := newSecPairOn(t, rs, nil)
	good := token(t, nil)
	r := p.a.raw("GET", "/api/secret/1", "Authorization: Bearer "+good, "Authorization: Bearer forged")
	if r.status != 400 || len(p.origin.requests()) != 0 {
		t.Fatalf("two Authorization lines: %d %s", r.status, r.body)
	}
	if r := p.a.raw("GET", "/api/secret/1", "Authorization: Bearer "+good); r.status != 200 {
		t.Fatalf("one line: %d", r.status)
	}
}

// answerFor returns r and the bearer token the origin was sent for it.
func answerFor(t *testing.T, r reply) (reply, string) {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	auth := r.echo(t).Headers["Authorization"]
	if len(auth) != 1 {
		t.Fatalf("the origin got Authorization %q", auth)
	}
	return r, strings.TrimPrefix(auth[0], "Bearer ")
}
