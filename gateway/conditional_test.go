package gateway

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

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
