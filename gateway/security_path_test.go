package gateway

import (
	"bufio"
	"net"
	"net/url"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/tiercel/tiercel/gateway/reqtarget"
	"github.com/tiercel/tiercel/gateway/router"
)

// Issue 13, item 1: the path the origin receives is exactly the path that
// was routed and keyed, in normal form (gateway/reqtarget: merged slashes,
// dot segments resolved per RFC 3986 §5.2.4, unreserved escapes decoded per
// §6.2.2.2), on cached fills and on proxied requests. Before the fix,
// "//pub/api/secret/1" was routed as /pub/... (public) and fasthttp's
// client sent the origin "/api/secret/1", stored under a shared key.
func TestSecurityRoutedPathIsForwardedPath(t *testing.T) {
	onEachRedis(t, testSecurityRoutedPathIsForwardedPath)
}

func testSecurityRoutedPathIsForwardedPath(t *testing.T, rs *sharedRedis) {
	p := newSecPairOn(t, rs, nil)
	type tc struct {
		target string
		status int
		origin string // the request-target the origin must receive; "" none
		code   string // the error code of a refusal
	}
	cases := []tc{
		{"//pub/api/secret/1", 200, "/pub/api/secret/1", ""},
		{"//api/shared/p63", 200, "/api/shared/p63", ""},
		{"//x/../pub/a", 200, "/pub/a", ""},
		{"/pub/./b//c/", 200, "/pub/b/c/", ""},
		{"http://evil.example//pub/d?x=1", 200, "/pub/d", ""},
		{"/pub/caf%c3%a9/%41", 200, "/pub/caf%C3%A9/A", ""},
		{"/raw//x/../y?q=1&q=2", 200, "/raw/y?q=1&q=2", ""},
		{"http://evil.example/raw/z", 200, "/raw/z", ""},
		// Dot segments are resolved before routing: they never leave the
		// prefix a route was matched by.
		{"/pub/../api/secret/1", 401, "", "missing"},
		{"/pub/%2e%2e/api/secret/1", 401, "", "missing"},
		{"/raw/../api/secret/1", 401, "", "missing"},
		{"/raw/%2E%2e/%2e./api/secret/1", 401, "", "missing"},
		{"//pub/../../api/secret/1", 401, "", "missing"},
		// What an origin might decode into a separator or a dot segment
		// after routing is refused.
		{"/pub/..%2Fapi/secret/1", 400, "", "bad_path"},
		{"/pub/..%5capi/secret/1", 400, "", "bad_path"},
		{`/pub/..\api\secret\1`, 400, "", "bad_path"},
		{"/pub/..;/api/secret/1", 400, "", "bad_path"},
		{"/pub/%zz", 400, "", "bad_path"},
		{"/pub/a#frag", 400, "", "bad_target"},
		{"*", 400, "", "bad_target"},
	}
	for _, h := range p.replicas() {
		for _, c := range cases {
			r := h.raw("GET", c.target)
			got := p.origin.requests()
			if r.status != c.status || r.err.Code != c.code {
				t.Fatalf("%s %q: %d %q, want %d %q (%s)", h.srv.Addr(), c.target, r.status, r.err.Code, c.status, c.code, r.body)
			}
			if c.origin == "" && len(got) > 0 {
				t.Fatalf("%q: the origin was asked for %q", c.target, got[0].URI)
			}
			for _, e := range got { // none on the second replica's L2 hits
				if e.URI != c.origin || e.Host != p.origin.addr() {
					t.Fatalf("%q: the origin received %q (Host %q), want %q", c.target, e.URI, e.Host, c.origin)
				}
			}
			if c.status == 200 {
				if e := r.echo(t); e.URI != c.origin {
					t.Fatalf("%q: served the answer to %q, want %q's (%s)", c.target, e.URI, c.origin, r.header.Get("X-Cache"))
				}
			}
		}
	}
	p.settle()
	// What an ordinary client is served afterwards, on both replicas.
	tok := token(t, nil)
	for _, h := range p.replicas() {
		if r := h.raw("GET", "/api/secret/1"); r.status != 401 {
			t.Fatalf("anonymous /api/secret/1: %d", r.status)
		}
		if r := h.raw("GET", "/pub/api/secret/1"); r.status != 200 || r.echo(t).URI != "/pub/api/secret/1" {
			t.Fatalf("/pub/api/secret/1 serves the answer to %q", r.echo(t).URI)
		}
		if r := h.raw("GET", "/api/shared/p63"); r.echo(t).URI != "/api/shared/p63" {
			t.Fatalf("/api/shared/p63 serves the answer to %q", r.echo(t).URI)
		}
		if r := h.raw("GET", "/api/secret/1", "Authorization: Bearer "+tok); r.status != 200 || r.echo(t).URI != "/api/secret/1" {
			t.Fatalf("authenticated /api/secret/1: %d %q", r.status, r.body)
		}
	}
}

// server.escaped_slashes: keep lets %2F through as data in one segment,
// routed, keyed and forwarded encoded, never decoded into a separator.
func TestSecurityEscapedSlashesKept(t *testing.T) {
	onEachRedis(t, testSecurityEscapedSlashesKept)
}

func testSecurityEscapedSlashesKept(t *testing.T, rs *sharedRedis) {
	p := newSecPairOn(t, rs, func(c *Config) { c.Server.EscapedSlashes = "keep" })
	for _, h := range p.replicas() {
		r := h.raw("GET", "/pub/..%2fapi%2Fsecret/1")
		if r.status != 200 || r.echo(t).URI != "/pub/..%2Fapi%2Fsecret/1" {
			t.Fatalf("%d %q", r.status, r.body)
		}
		if r := h.raw("GET", "/raw/a%5cb"); r.status != 200 || r.echo(t).URI != "/raw/a%5Cb" {
			t.Fatalf("%d %q", r.status, r.body)
		}
	}
}

// FuzzUpstreamPathIsKeyedPath sends random request targets through the
// handler to a real origin (net/http, an independent parser) and checks:
// the origin never reads an authority or a dot segment; the path it
// receives routes to the route that answered; and the entry stored for the
// target is the one a request for exactly the received path reads (same
// key: a second request for it is a hit with the same answer, or fetches
// the same path).
func FuzzUpstreamPathIsKeyedPath(f *testing.F) {
	for _, s := range []string{"/pub/a", "//pub/api/secret/1", "//x/../pub/a", "/pub/%2e%2e/x", "/raw//a?b=1",
		"http://h//pub/x", "/pub/caf%c3%a9", "/pub/..;/x", "/pub/a/./b/", "/raw/.%2e/pub/y"} {
		f.Add(s)
	}
	o := startEchoOrigin(f)
	cfg := testConfig(o.addr())
	secRoutes("", nil)(&cfg)
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		f.Fatal(err)
	}
	s, err := New(cfg, discardLogger())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(s.closeComponents)
	serve := func(target string) (*fasthttp.RequestCtx, bool) {
		var req fasthttp.Request
		raw := "GET " + target + " HTTP/1.1\r\nHost: gateway.test\r\n\r\n"
		if err := req.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
			return nil, false // the server would not have read it either
		}
		ctx := &fasthttp.RequestCtx{}
		ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, nil)
		s.handle(ctx)
		return ctx, true
	}
	f.Fuzz(func(t *testing.T, target string) {
		o.requests()
		ctx, ok := serve(target)
		if !ok {
			return
		}
		got := o.requests()
		status := ctx.Response.StatusCode()
		if status >= 500 {
			t.Fatalf("%q: %d %s", target, status, ctx.Response.Body())
		}
		if len(got) == 0 {
			return
		}
		e := got[0]
		u, err := url.ParseRequestURI(e.URI)
		if err != nil || u.Host != "" || !strings.HasPrefix(e.URI, "/") || strings.HasPrefix(e.URI, "//") {
			t.Fatalf("%q: the origin read %q as host %q path %q (%v)", target, e.URI, u.Host, u.Path, err)
		}
		path, _, _ := strings.Cut(e.URI, "?")
		if norm, _, _, err := (reqtarget.Options{}).Parse(nil, []byte(path)); err != nil || string(norm) != path {
			t.Fatalf("%q: the origin received %q, not in normal form (%q, %v)", target, path, norm, err)
		}
		for _, seg := range strings.Split(path, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("%q: the origin received the dot segment in %q", target, path)
			}
		}
		var params router.Params
		idx, _, err := s.current().router.Match([]byte("GET"), []byte(path), &params)
		if err != nil || s.current().routes[idx].name != routeOf(t, s, target) {
			t.Fatalf("%q: the origin's path %q routes elsewhere (%v)", target, path, err)
		}
		if s.current().routes[idx].cache == nil {
			return
		}
		s.current().cache.Wait()
		again, _ := serve(e.URI)
		second := o.requests()
		switch {
		case string(again.Response.Header.Peek("X-Cache")) == "HIT-L1":
			if string(again.Response.Body()) != string(ctx.Response.Body()) {
				t.Fatalf("%q stored %q, but %q reads %q", target, ctx.Response.Body(), e.URI, again.Response.Body())
			}
		case len(second) != 1 || second[0].URI != e.URI:
			t.Fatalf("%q then %q: the origin received %v", target, e.URI, second)
		}
	})
}

// routeOf is the name of the route the gateway picks for target.
func routeOf(t *testing.T, s *Server, target string) string {
	t.Helper()
	var req fasthttp.Request
	if err := req.Read(bufio.NewReader(strings.NewReader("GET " + target + " HTTP/1.1\r\nHost: g\r\n\r\n"))); err != nil {
		t.Fatal(err)
	}
	path, _, _, err := s.current().targets.Parse(nil, req.Header.RequestURI())
	if err != nil {
		t.Fatalf("%q reached the origin but is refused: %v", target, err)
	}
	var params router.Params
	idx, _, err := s.current().router.Match([]byte("GET"), path, &params)
	if err != nil {
		t.Fatalf("%q reached the origin but routes nowhere", target)
	}
	return s.current().routes[idx].name
}
