package gateway

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// parsedRequest reads a request line the way the server does.
func parsedRequest(t testing.TB, target string) (*fasthttp.Request, bool) {
	var req fasthttp.Request
	raw := "GET " + target + " HTTP/1.1\r\nHost: example.test\r\n\r\n"
	if err := req.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		return nil, false
	}
	return &req, true
}

func TestNormalPath(t *testing.T) {
	for _, tc := range []struct {
		target string
		fast   bool
	}{
		{"/api/products/1", true},
		{"/api/products/1?b=2&a=1", true},
		{"/", true},
		{"/a/b.c/d.", true},
		{"/a/../admin", false},
		{"/a/./b", false},
		{"/a//b", false},
		{"//a", false},
		{"/a/%2e%2e/admin", false},
		{"/a%2Fb", false},
		{"/a#frag", false},
		{"/a?x#frag", false},
		{"/.well-known/jwks.json", false},
		{"http://example.test/a", false},
		{"*", false},
	} {
		req, ok := parsedRequest(t, tc.target)
		if !ok {
			t.Fatalf("%q: fasthttp cannot read it", tc.target)
		}
		p, fast := normalPath(req.Header.RequestURI())
		if fast != tc.fast {
			t.Errorf("%q: fast path %v, want %v", tc.target, fast, tc.fast)
		}
		if fast && (!bytes.Equal(p, req.URI().Path()) || !bytes.Equal(p, req.URI().PathOriginal())) {
			t.Errorf("%q: fast path %q, fasthttp path %q original %q", tc.target, p, req.URI().Path(), req.URI().PathOriginal())
		}
	}
}

// The fast path agrees with fasthttp's URI parse on requests no server
// read would produce but a handler may still be given (built in process):
// a control byte anywhere makes fasthttp's parse fail and give "/".
func TestNormalPathControlBytes(t *testing.T) {
	for _, target := range []string{"/\x1a", "/a\x00b", "/a\x7f", "/a?b=\x01", "/a?b\tc", "/a?#\x01"} {
		if p, fast := normalPath([]byte(target)); fast {
			t.Errorf("%q: fast path took it as %q", target, p)
		}
		req := builtRequest(target)
		if got := req.URI().Path(); string(got) != "/" {
			t.Errorf("%q: fasthttp's path is %q: the premise changed", target, got)
		}
	}
}

// builtRequest is a request made in process, no server read in between.
func builtRequest(target string) *fasthttp.Request {
	var req fasthttp.Request
	req.Header.SetRequestURI(target)
	req.Header.SetHost("example.test")
	return &req
}

// FuzzNormalPath: whenever the fast path takes a target, routing and cache
// keys see exactly what fasthttp's own parse would have given them, for a
// request read by the server and for one built in process.
func FuzzNormalPath(f *testing.F) {
	for _, s := range []string{"/api/products/1", "/a/../b", "/a?b=/../c", "/a%2F..", "/x//y?z", "/a.b/.c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		check := func(how string, req *fasthttp.Request) {
			p, fast := normalPath(req.Header.RequestURI())
			if fast && (!bytes.Equal(p, req.URI().Path()) || !bytes.Equal(p, req.URI().PathOriginal())) {
				t.Fatalf("%s %q: fast path %q, fasthttp path %q original %q", how, target, p, req.URI().Path(), req.URI().PathOriginal())
			}
		}
		if req, ok := parsedRequest(t, target); ok {
			check("read", req)
		}
		check("built", builtRequest(target))
	})
}
