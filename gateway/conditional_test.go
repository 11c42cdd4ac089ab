package gateway

import (
	"net/http"
	"strings"
	"testing"
	"time"

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
		if got := notModified(tc.req, tc.resp); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A client revalidating its copy gets 304 from the cache, whatever tier
// answers, with the validators and cache headers and without the body or
// its metadata; the conditions never reach the origin, and a mismatch gets
// the full answer.
func TestCacheConditionalRequests(t *testing.T) {
	h := newHarness(t, cachedRoutes(""))
	lm := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC).Format(http.TimeFormat)
	sawConditional := make(chan string, 16)
	h.origin.serve(func(ctx *fasthttp.RequestCtx) {
		for _, k := range []string{"If-None-Match", "If-Modified-Since"} {
			if v := ctx.Request.Header.Peek(k); len(v) > 0 {
				sawConditional <- k + ": " + string(v)
			}
		}
		ctx.Response.Header.Set("ETag", `"v1"`)
		ctx.Response.Header.Set("Last-Modified", lm)
		ctx.Response.Header.Set("Content-Language", "en")
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"id":1}`)
	})
	get := func(method string, hdr map[string]string) reply {
		t.Helper()
		return h.do(method, "/c/products/1", "", nil, hdr)
	}
	// A conditional miss: the fill is unconditional, the answer is 304.
	if r := get("GET", map[string]string{"If-None-Match": `"v1"`}); r.status != 304 || r.header.Get("X-Cache") != "MISS" || r.body != "" {
		t.Fatalf("conditional miss: %d %q %q", r.status, r.header.Get("X-Cache"), r.body)
	}
	h.srv.current().cache.Wait()
	for _, tc := range []struct {
		name   string
		method string
		hdr    map[string]string
		status int
	}{
		{"etag", "GET", map[string]string{"If-None-Match": `"v1"`}, 304},
		{"weak etag in a list", "GET", map[string]string{"If-None-Match": `"v0", W/"v1"`}, 304},
		{"star", "GET", map[string]string{"If-None-Match": `*`}, 304},
		{"HEAD", "HEAD", map[string]string{"If-None-Match": `"v1"`}, 304},
		{"stale etag", "GET", map[string]string{"If-None-Match": `"v0"`}, 200},
		{"not modified since", "GET", map[string]string{"If-Modified-Since": lm}, 304},
		{"modified since", "GET", map[string]string{"If-Modified-Since": "Sun, 22 Nov 2026 09:00:00 GMT"}, 200},
		{"if-none-match wins", "GET", map[string]string{"If-None-Match": `"v0"`, "If-Modified-Since": lm}, 200},
		{"unconditional", "GET", nil, 200},
	} {
		r := get(tc.method, tc.hdr)
		if r.status != tc.status || r.header.Get("X-Cache") != "HIT-L1" {
			t.Errorf("%s: %d X-Cache=%q, want %d HIT-L1", tc.name, r.status, r.header.Get("X-Cache"), tc.status)
			continue
		}
		if r.header.Get("ETag") != `"v1"` || r.header.Get("Last-Modified") != lm || r.header.Get("Age") == "" ||
			!strings.HasPrefix(r.header.Get("Cache-Status"), "tiercel; hit") {
			t.Errorf("%s: validators or cache headers missing: %v", tc.name, r.header)
		}
		switch {
		case tc.status == 304 && (r.body != "" || r.header.Get("Content-Type") != "" || r.header.Get("Content-Language") != ""):
			t.Errorf("%s: a 304 with a body or its metadata: %q %v", tc.name, r.body, r.header)
		case tc.status == 200 && tc.method == "GET" && (r.body != `{"id":1}` || r.header.Get("Content-Language") != "en"):
			t.Errorf("%s: full answer %q %v", tc.name, r.body, r.header)
		}
	}
	if n := h.origin.hits.Load(); n != 1 {
		t.Fatalf("origin hits %d, want the one fill", n)
	}
	select {
	case s := <-sawConditional:
		t.Fatalf("the fill forwarded a client condition: %s", s)
	default:
	}
	if m := h.metrics(t); !strings.Contains(m, `cache="hit_l1",route="c-products",status="304"`) {
		t.Fatal("/metrics does not count the 304s")
	}
}
