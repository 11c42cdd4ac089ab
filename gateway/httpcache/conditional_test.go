package httpcache

import (
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

func TestETagListMatches(t *testing.T) {
	for _, tc := range []struct {
		list, etag string
		match      bool
	}{
		{`"v1"`, `"v1"`, true},
		{`W/"v1"`, `"v1"`, true}, // weak comparison both ways
		{`"v1"`, `W/"v1"`, true},
		{`"a", "v1"`, `"v1"`, true},
		{`"a",W/"v1" ,"b"`, `"v1"`, true},
		{`"a,b"`, `"a,b"`, true}, // a comma inside a tag is part of it
		{`"a,b"`, `"a"`, false},
		{`"a", "b"`, `"a,b"`, false},
		{`*`, `"anything"`, true},
		{` * `, ``, true}, // "*": any current representation
		{`"v2"`, `"v1"`, false},
		{`"v1`, `"v1"`, false},     // unterminated
		{`v1`, `"v1"`, false},      // unquoted
		{`"v1"`, `v1`, false},      // a malformed stored tag never matches
		{`"v1"`, ``, false},        // no stored tag
		{`x, "v1"`, `"v1"`, false}, // a malformed member ends the list
		{`"v1", x`, `"v1"`, true},  // what came before it counts
		{`"V1"`, `"v1"`, false},    // opaque: case matters
		{`""`, `""`, true},
		{``, `"v1"`, false},
	} {
		if got := etagListMatches([]byte(tc.list), []byte(tc.etag)); got != tc.match {
			t.Errorf("If-None-Match %s against ETag %s: %v, want %v", tc.list, tc.etag, got, tc.match)
		}
	}
}

func FuzzETagListMatches(f *testing.F) {
	for _, s := range []string{`"v1"`, `W/"v1", "a,b"`, `*`, `"`, `W/`, `,,`} {
		f.Add(s, `"v1"`)
	}
	f.Fuzz(func(t *testing.T, list, etag string) {
		got := etagListMatches([]byte(list), []byte(etag))
		// The one-member list made of the stored tag itself always matches.
		if _, ok := opaqueTag([]byte(etag)); ok && !etagListMatches([]byte(etag), []byte(etag)) {
			t.Fatalf("%q does not match itself", etag)
		}
		if strings.TrimSpace(list) == "*" && !got {
			t.Fatalf("* did not match %q", etag)
		}
	})
}

func TestNotModified(t *testing.T) {
	lm := "Sun, 22 Nov 2026 10:00:00 GMT"
	stored := func(status int, hdr ...string) *fasthttp.ResponseHeader {
		var h fasthttp.ResponseHeader
		h.SetStatusCode(status)
		for i := 0; i < len(hdr); i += 2 {
			h.Set(hdr[i], hdr[i+1])
		}
		return &h
	}
	req := func(hdr ...string) *fasthttp.RequestHeader {
		var h fasthttp.RequestHeader
		for i := 0; i < len(hdr); i += 2 {
			h.Set(hdr[i], hdr[i+1])
		}
		return &h
	}
	both := stored(200, "ETag", `"v1"`, "Last-Modified", lm)
	for _, tc := range []struct {
		name string
		req  *fasthttp.RequestHeader
		resp *fasthttp.ResponseHeader
		want bool
	}{
		{"no conditions", req(), both, false},
		{"etag match", req("If-None-Match", `"v1"`), both, true},
		{"etag mismatch", req("If-None-Match", `"v0"`), both, false},
		{"if-none-match decides alone", req("If-None-Match", `"v0"`, "If-Modified-Since", lm), both, false},
		{"not modified since", req("If-Modified-Since", lm), both, true},
		{"later date", req("If-Modified-Since", "Sun, 22 Nov 2026 11:00:00 GMT"), both, true},
		{"modified since", req("If-Modified-Since", "Sun, 22 Nov 2026 09:59:59 GMT"), both, false},
		{"not a date", req("If-Modified-Since", "yesterday"), both, false},
		{"no Last-Modified", req("If-Modified-Since", lm), stored(200, "ETag", `"v1"`), false},
		{"star without etag", req("If-None-Match", "*"), stored(200), true},
		{"negative entry", req("If-None-Match", "*"), stored(404, "ETag", `"v1"`), false},
	} {
		if got := NotModified(tc.req, tc.resp); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
