package gateway

import (
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

const rangeBody = "abcdefghijklmnopqrstuvwxyz"

// rangeOrigin answers every cached path with rangeBody and an ETag, and
// records the Range headers it was sent.
func rangeOrigin(h *harness, cacheControl string) (*versionedOrigin, func() []string) {
	o := newVersionedOrigin(h.origin)
	var mu sync.Mutex
	var seen []string
	o.extra.Store(func(ctx *fasthttp.RequestCtx) bool {
		mu.Lock()
		seen = append(seen, string(ctx.Request.Header.Peek("Range")))
		mu.Unlock()
		ctx.Response.Header.Set("ETag", `"v1"`)
		ctx.Response.Header.Set("Cache-Control", cacheControl)
		ctx.SetContentType("text/plain")
		ctx.SetBodyString(rangeBody)
		return true
	})
	return o, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), seen...) }
}

// RFC 9110 §14 from the cache: a Range on a cold key is answered from the
// whole object the fill stored; later ones are sliced from the entry.
func TestRangeFromCache(t *testing.T) {
	h := newHarness(t, cachedRoutes(""))
	o, rangesSeen := rangeOrigin(h, "max-age=60")
	want206 := func(r reply, label, contentRange, body string) {
		t.Helper()
		if r.status != 206 || r.header.Get("X-Cache") != label || r.header.Get("Content-Range") != contentRange || r.body != body {
			t.Fatalf("want 206 %s %q %q; got %d %q %q %q", label, contentRange, body,
				r.status, r.header.Get("X-Cache"), r.header.Get("Content-Range"), r.body)
		}
		// §15.3.7: the whole representation's fields are kept.
		if r.header.Get("Etag") != `"v1"` || r.header.Get("Cache-Control") != "max-age=60" || r.header.Get("Accept-Ranges") != "bytes" {
			t.Fatalf("206 headers: %v", r.header)
		}
	}
	rng := func(v string) map[string]string { return map[string]string{"Range": v} }

	// MISS: the fill fetched the whole object, without the Range.
	want206(h.do("GET", "/c/products/r1", "", nil, rng("bytes=0-4")), "MISS", "bytes 0-4/26", "abcde")
	if seen := rangesSeen(); len(seen) != 1 || seen[0] != "" {
		t.Fatalf("the origin was sent Range %q", seen)
	}
	h.srv.current().cache.Wait()
	// A HIT without Range is the whole 200, which advertises ranges.
	if r := h.get("/c/products/r1", ""); r.status != 200 || r.header.Get("X-Cache") != "HIT-L1" || r.body != rangeBody ||
		r.header.Get("Accept-Ranges") != "bytes" || r.header.Get("Content-Range") != "" {
		t.Fatalf("HIT without Range: %d %q %q %v", r.status, r.header.Get("X-Cache"), r.body, r.header)
	}
	// §14.1.2 on a HIT: suffix, open-ended, clipped.
	want206(h.do("GET", "/c/products/r1", "", nil, rng("bytes=-3")), "HIT-L1", "bytes 23-25/26", "xyz")
	want206(h.do("GET", "/c/products/r1", "", nil, rng("bytes=20-")), "HIT-L1", "bytes 20-25/26", "uvwxyz")
	want206(h.do("GET", "/c/products/r1", "", nil, rng("bytes=24-99")), "HIT-L1", "bytes 24-25/26", "yz")
	// §13.1.5: a matching If-Range applies the Range, any other sends the 200.
	want206(h.do("GET", "/c/products/r1", "", nil, map[string]string{"Range": "bytes=1-2", "If-Range": `"v1"`}), "HIT-L1", "bytes 1-2/26", "bc")
	for _, ifRange := range []string{`"v2"`, `W/"v1"`, "Wed, 21 Oct 2015 07:28:00 GMT"} {
		if r := h.do("GET", "/c/products/r1", "", nil, map[string]string{"Range": "bytes=1-2", "If-Range": ifRange}); r.status != 200 || r.body != rangeBody {
			t.Fatalf("If-Range %q: %d %q", ifRange, r.status, r.body)
		}
	}
	// §14.2: an invalid or unknown-unit Range is ignored.
	for _, v := range []string{"bytes=5-1", "lines=0-1", "bytes=x"} {
		if r := h.do("GET", "/c/products/r1", "", nil, rng(v)); r.status != 200 || r.body != rangeBody {
			t.Fatalf("Range %q: %d %q", v, r.status, r.body)
		}
	}
	if n := o.hits.Load(); n != 1 {
		t.Fatalf("origin hits %d, want the one fill", n)
	}
}

// §14.6: several ranges are one multipart/byteranges, read here with
// mime/multipart.
func TestRangeMultipartFromCache(t *testing.T) {
	h := newHarness(t, cachedRoutes(""))
	rangeOrigin(h, "max-age=60")
	h.get("/c/products/r2", "")
	h.srv.current().cache.Wait()
	r := h.do("GET", "/c/products/r2", "", nil, map[string]string{"Range": "bytes=0-1, 24-"})
	mt, params, err := mime.ParseMediaType(r.header.Get("Content-Type"))
	if r.status != 206 || err != nil || mt != "multipart/byteranges" || r.header.Get("X-Cache") != "HIT-L1" {
		t.Fatalf("%d %q %v %q", r.status, r.header.Get("Content-Type"), err, r.header.Get("X-Cache"))
	}
	mr := multipart.NewReader(strings.NewReader(r.body), params["boundary"])
	for _, want := range [][2]string{{"bytes 0-1/26", "ab"}, {"bytes 24-25/26", "yz"}} {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(p)
		if p.Header.Get("Content-Range") != want[0] || p.Header.Get("Content-Type") != "text/plain" || string(data) != want[1] {
			t.Fatalf("part %v: %v %q", want, p.Header, data)
		}
	}
	if _, err := mr.NextPart(); err != io.EOF {
		t.Fatalf("after the last part: %v", err)
	}
}

// §15.5.17: no satisfiable range is a 416 with Content-Range bytes */26,
// in the gateway's JSON error shape (h.do checks it).
func TestRangeNotSatisfiableFromCache(t *testing.T) {
	h := newHarness(t, cachedRoutes(""))
	rangeOrigin(h, "max-age=60")
	for _, label := range []string{"MISS", "HIT-L1"} {
		r := h.do("GET", "/c/products/r3", "", nil, map[string]string{"Range": "bytes=26-"})
		if r.status != 416 || r.err.Code != "range_not_satisfiable" || r.header.Get("Content-Range") != "bytes */26" ||
			r.header.Get("X-Cache") != label || r.header.Get("Cache-Control") != "no-store" || r.header.Get("Etag") != "" {
			t.Fatalf("%s: %d %+v %v", label, r.status, r.err, r.header)
		}
		h.srv.current().cache.Wait()
	}
	// The 416 was never stored: the next plain GET is the whole 200.
	if r := h.get("/c/products/r3", ""); r.status != 200 || r.body != rangeBody || r.header.Get("X-Cache") != "HIT-L1" {
		t.Fatalf("after a 416: %d %q %q", r.status, r.header.Get("X-Cache"), r.body)
	}
}

// What is not a Range to answer: HEAD (§14.2: only GET defines range
// handling), a 304 (If-None-Match decides first, §13.2.2), two Range
// lines (the field is single-valued).
func TestRangeIgnoredFromCache(t *testing.T) {
	h := newHarness(t, cachedRoutes(""))
	rangeOrigin(h, "max-age=60")
	h.get("/c/products/r4", "")
	h.srv.current().cache.Wait()
	if r := h.do("HEAD", "/c/products/r4", "", nil, map[string]string{"Range": "bytes=0-4"}); r.status != 200 ||
		r.header.Get("Content-Range") != "" || r.header.Get("Content-Length") != "26" {
		t.Fatalf("HEAD: %d %v", r.status, r.header)
	}
	if r := h.do("GET", "/c/products/r4", "", nil, map[string]string{"Range": "bytes=0-4", "If-None-Match": `"v1"`}); r.status != 304 ||
		r.header.Get("Content-Range") != "" {
		t.Fatalf("If-None-Match with Range: %d %v", r.status, r.header)
	}
	req, _ := http.NewRequest("GET", h.base+"/c/products/r4", nil)
	req.Header["Range"] = []string{"bytes=0-4", "bytes=5-9"}
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || string(b) != rangeBody {
		t.Fatalf("two Range lines: %d %q", resp.StatusCode, b)
	}
}

// A STALE answer is sliced like a fresh one.
func TestRangeFromStaleEntry(t *testing.T) {
	h := newHarness(t, cachedRoutes(""))
	rangeOrigin(h, "max-age=1, stale-while-revalidate=60")
	h.get("/c/products/r5", "")
	r := h.pollCache(t, "/c/products/r5", map[string]string{"Range": "bytes=2-3"}, "STALE")
	if r.status != 206 || r.body != "cd" || r.header.Get("Content-Range") != "bytes 2-3/26" {
		t.Fatalf("STALE: %d %q %q", r.status, r.header.Get("Content-Range"), r.body)
	}
}

// RFC 9110 §13.1.5 with a date: If-Range naming the stored Last-Modified
// applies the Range only when that date is strong (§8.8.2.2: at least a
// second before the stored Date). The origin's Date is stored with the
// entry, so the check can be made on a hit.
func TestRangeIfRangeDateFromCache(t *testing.T) {
	h, o := plainCache(t, nil, nil)
	old := httpDate(-time.Hour)
	scripted(o, map[string][]string{
		"/strong": {"Cache-Control: max-age=60", "Last-Modified: " + old},
		"/weak":   {"Cache-Control: max-age=60", "Last-Modified: " + httpDate(5*time.Second)}, // after Date: weak
	})
	for path, want := range map[string]int{"/strong": 206, "/weak": 200} {
		lm := h.raw("GET", path).header.Get("Last-Modified")
		h.srv.current().cache.Wait()
		r := h.rawHit("GET", path, "Range: bytes=0-2", "If-Range: "+lm)
		if r.status != want {
			t.Errorf("%s (Last-Modified %s, Date %s): %d, want %d", path, lm, r.header.Get("Date"), r.status, want)
		}
	}
}
