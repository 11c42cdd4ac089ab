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

// FuzzNormalPath: whenever the fast path takes a target, routing and cache
// keys see exactly what fasthttp's own parse would have given them.
func FuzzNormalPath(f *testing.F) {
	for _, s := range []string{"/api/products/1", "/a/../b", "/a?b=/../c", "/a%2F..", "/x//y?z", "/a.b/.c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		req, ok := parsedRequest(t, target)
		if !ok {
			return
		}
		p, fast := normalPath(req.Header.RequestURI())
		if !fast {
			return
		}
		if !bytes.Equal(p, req.URI().Path()) || !bytes.Equal(p, req.URI().PathOriginal()) {
			t.Fatalf("%q: fast path %q, fasthttp path %q original %q", target, p, req.URI().Path(), req.URI().PathOriginal())
		}
	})
}
