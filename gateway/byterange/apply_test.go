package byterange

import (
	"bufio"
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

const alphabet = "abcdefghijklmnopqrstuvwxyz"

// stored is a cached 200 as the gateway has it: parsed from an origin's
// answer (fasthttp keeps a parsed Date, and drops one set by hand), the
// body given with SetBodyRaw. fields override the defaults; "" deletes.
func stored(t testing.TB, body string, fields ...string) *fasthttp.Response {
	t.Helper()
	kv := [][2]string{
		{"Content-Type", "text/plain"}, {"ETag", `"v1"`}, {"Last-Modified", "Wed, 21 Oct 2015 07:28:00 GMT"},
		{"Date", "Wed, 21 Oct 2015 08:00:00 GMT"}, {"Cache-Control", "max-age=60"}, {"Vary", "Accept"},
		{"Expires", "Wed, 21 Oct 2015 08:01:00 GMT"}, {"Content-Digest", "sha-256=:x:"}, {"Repr-Digest", "sha-256=:x:"},
	}
	for i := 0; i+1 < len(fields); i += 2 {
		kv = slices.DeleteFunc(kv, func(f [2]string) bool { return strings.EqualFold(f[0], fields[i]) })
		if fields[i+1] != "" {
			kv = append(kv, [2]string{fields[i], fields[i+1]})
		}
	}
	raw := "HTTP/1.1 200 OK\r\n"
	for _, f := range kv {
		raw += f[0] + ": " + f[1] + "\r\n"
	}
	raw += "Content-Length: 0\r\n\r\n"
	resp := fasthttp.AcquireResponse()
	t.Cleanup(func() { fasthttp.ReleaseResponse(resp) })
	if err := resp.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		t.Fatal(err)
	}
	resp.SetBodyRaw([]byte(body))
	return resp
}

// wire writes resp as fasthttp would send it and reads it back with
// net/http, an independent client: status line, Content-Length and body.
func wire(t testing.TB, resp *fasthttp.Response) (*http.Response, string) {
	t.Helper()
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	if err := resp.Write(w); err != nil {
		t.Fatal(err)
	}
	_ = w.Flush()
	r, err := http.ReadResponse(bufio.NewReader(&buf), &http.Request{Method: "GET"})
	if err != nil {
		t.Fatalf("net/http cannot read the response: %v\n%s", err, buf.Bytes())
	}
	defer r.Body.Close()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	if r.ContentLength != int64(len(body)) {
		t.Fatalf("Content-Length %d for %d bytes", r.ContentLength, len(body))
	}
	return r, string(body)
}

func TestApplySingleRange(t *testing.T) {
	f := func(rangeValue, wantRange, wantBody string) {
		t.Helper()
		resp := stored(t, alphabet)
		stored := resp.Body()
		if out := Apply(resp, []byte("GET"), []byte(rangeValue), nil); out != Partial {
			t.Fatalf("%q: %v", rangeValue, out)
		}
		// No copy: the 206's content is the stored body's own bytes.
		if &resp.Body()[0] != &stored[strings.Index(alphabet, wantBody)] {
			t.Fatalf("%q: the range was copied", rangeValue)
		}
		r, body := wire(t, resp)
		// §15.3.7.1: one range is a 206 with Content-Range, not multipart.
		if r.StatusCode != 206 || r.Header.Get("Content-Range") != wantRange || body != wantBody {
			t.Fatalf("%q: %d Content-Range %q body %q", rangeValue, r.StatusCode, r.Header.Get("Content-Range"), body)
		}
		// §15.3.7: the fields a 200 would carry about the whole
		// representation are kept; Content-Digest, of the 200's content,
		// would be wrong.
		for k, v := range map[string]string{
			"Content-Type": "text/plain", "Etag": `"v1"`, "Last-Modified": "Wed, 21 Oct 2015 07:28:00 GMT",
			"Cache-Control": "max-age=60", "Vary": "Accept", "Expires": "Wed, 21 Oct 2015 08:01:00 GMT",
			"Accept-Ranges": "bytes", "Repr-Digest": "sha-256=:x:", "Content-Digest": "",
		} {
			if got := r.Header.Get(k); got != v {
				t.Fatalf("%q: %s %q, want %q", rangeValue, k, got, v)
			}
		}
	}
	f("bytes=0-4", "bytes 0-4/26", "abcde")
	f("bytes=-3", "bytes 23-25/26", "xyz")      // §14.1.2 suffix
	f("bytes=20-", "bytes 20-25/26", "uvwxyz")  // §14.1.2 open-ended
	f("bytes=24-99", "bytes 24-25/26", "yz")    // §14.1.2 clipped
	f("bytes=0-25", "bytes 0-25/26", alphabet)  // the whole, still a 206
	f("bytes=3-5,4-7", "bytes 3-7/26", "defgh") // coalesced to one: no multipart (§15.3.7.2)
}

func TestApplyMultipart(t *testing.T) {
	resp := stored(t, alphabet)
	if out := Apply(resp, []byte("GET"), []byte("bytes=20-21, 0-1,-2"), nil); out != Partial {
		t.Fatalf("%v", out)
	}
	r, body := wire(t, resp)
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	// §14.6: multipart/byteranges with a boundary; no top-level Content-Range.
	if err != nil || mt != "multipart/byteranges" || r.StatusCode != 206 || r.Header.Get("Content-Range") != "" {
		t.Fatalf("%d %q %v Content-Range %q", r.StatusCode, r.Header.Get("Content-Type"), err, r.Header.Get("Content-Range"))
	}
	if b := params["boundary"]; len(b) < 26 || strings.Contains(alphabet, b) {
		t.Fatalf("boundary %q", b)
	}
	if r.Header.Get("Etag") != `"v1"` || r.Header.Get("Cache-Control") != "max-age=60" || r.Header.Get("Accept-Ranges") != "bytes" {
		t.Fatalf("whole-representation fields lost: %v", r.Header)
	}
	// Parts in the order asked (§15.3.7.2), each with the representation's
	// Content-Type and its own Content-Range.
	mr := multipart.NewReader(strings.NewReader(body), params["boundary"])
	for _, want := range [][2]string{{"bytes 20-21/26", "uv"}, {"bytes 0-1/26", "ab"}, {"bytes 24-25/26", "yz"}} {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatalf("part %q: %v\n%s", want[1], err, body)
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

func TestApplyUnsatisfiable(t *testing.T) {
	f := func(body, rangeValue, wantRange string) {
		t.Helper()
		resp := stored(t, body)
		if out := Apply(resp, []byte("GET"), []byte(rangeValue), nil); out != Unsatisfiable {
			t.Fatalf("%q: %v", rangeValue, out)
		}
		r, content := wire(t, resp)
		// §15.5.17: 416 with Content-Range "bytes */length"; the content is
		// not the representation, and no cache may keep it.
		if r.StatusCode != 416 || r.Header.Get("Content-Range") != wantRange || content != "" {
			t.Fatalf("%q: %d %q %q", rangeValue, r.StatusCode, r.Header.Get("Content-Range"), content)
		}
		for _, k := range []string{"Content-Type", "Etag", "Last-Modified", "Expires", "Content-Digest", "Repr-Digest"} {
			if v := r.Header.Get(k); v != "" {
				t.Fatalf("%q: 416 with %s %q", rangeValue, k, v)
			}
		}
		if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
			t.Fatalf("%q: 416 with Cache-Control %q", rangeValue, cc)
		}
	}
	f(alphabet, "bytes=26-", "bytes */26")
	f(alphabet, "bytes=30-40,-0", "bytes */26")
	f("", "bytes=0-0", "bytes */0") // §14.1.2: zero length
}

// Answers that stay the 200 (§14.2, §13.1.5, §13.2.2), and statuses
// Apply leaves alone.
func TestApplyFull(t *testing.T) {
	f := func(method, rangeValue, ifRange string, body string, fields ...string) {
		t.Helper()
		resp := stored(t, body, fields...)
		if out := Apply(resp, []byte(method), []byte(rangeValue), []byte(ifRange)); out != Full {
			t.Fatalf("%s %q If-Range %q: %v", method, rangeValue, ifRange, out)
		}
		r, got := wire(t, resp)
		if r.StatusCode != 200 || got != body || r.Header.Get("Content-Range") != "" || r.Header.Get("Accept-Ranges") != "bytes" {
			t.Fatalf("%s %q: %d %q %v", method, rangeValue, r.StatusCode, got, r.Header)
		}
	}
	f("GET", "", "", alphabet)           // no Range: Accept-Ranges advertises support
	f("HEAD", "bytes=0-4", "", alphabet) // §14.2: only GET defines range handling
	f("POST", "bytes=0-4", "", alphabet)
	f("GET", "bytes=4-0", "", alphabet) // §14.2: invalid is ignored
	f("GET", "lines=0-4", "", alphabet) // §14.2: unknown unit
	f("GET", "bytes=-5", "", "")        // §14.1.2: satisfiable, but nothing to name
	f("GET", "", `"v1"`, alphabet)      // §13.1.5: If-Range without Range is ignored
	f("GET", "bytes=0-4", `"v2"`, alphabet)
	f("GET", "bytes=0-4", `W/"v1"`, alphabet)
	f("GET", "bytes=0-4", `"v1"`, alphabet, "ETag", `W/"v1"`)
	f("GET", "bytes=0-4", "Wed, 21 Oct 2015 07:28:00 GMT", alphabet, "Date", "")
	// §13.2.2 step 5: a false If-Range sends the 200 even for a Range that
	// would be unsatisfiable.
	f("GET", "bytes=99-", `"v2"`, alphabet)
	// Several ranges of a coded representation: no right label exists.
	f("GET", "bytes=0-1,4-5", "", alphabet, "Content-Encoding", "gzip")

	for _, status := range []int{fasthttp.StatusNotModified, fasthttp.StatusNotFound, fasthttp.StatusPartialContent} {
		resp := stored(t, alphabet)
		resp.SetStatusCode(status)
		if out := Apply(resp, []byte("GET"), []byte("bytes=0-1"), nil); out != Full || resp.StatusCode() != status ||
			len(resp.Header.Peek("Accept-Ranges")) != 0 || string(resp.Body()) != alphabet {
			t.Fatalf("status %d: %v, now %d", status, out, resp.StatusCode())
		}
	}
}

// §13.1.5: a matching If-Range applies the Range.
func TestApplyIfRangeMatches(t *testing.T) {
	for _, ifRange := range []string{`"v1"`, "Wed, 21 Oct 2015 07:28:00 GMT"} {
		resp := stored(t, alphabet)
		if out := Apply(resp, []byte("GET"), []byte("bytes=1-2"), []byte(ifRange)); out != Partial || string(resp.Body()) != "bc" {
			t.Fatalf("If-Range %q: %v %q", ifRange, out, resp.Body())
		}
	}
	// And an unsatisfiable Range under a true If-Range is a 416.
	resp := stored(t, alphabet)
	if out := Apply(resp, []byte("GET"), []byte("bytes=26-"), []byte(`"v1"`)); out != Unsatisfiable {
		t.Fatalf("%v", out)
	}
}

// A single range of a coded representation is a range of the coded bytes,
// labelled as such (§14.1.2 "the selected representation").
func TestApplyKeepsContentEncoding(t *testing.T) {
	resp := stored(t, alphabet, "Content-Encoding", "gzip")
	if out := Apply(resp, []byte("GET"), []byte("bytes=0-1"), nil); out != Partial || string(resp.Header.ContentEncoding()) != "gzip" {
		t.Fatalf("%v %q", out, resp.Header.ContentEncoding())
	}
}

// The boundary occurs in no part (RFC 2046 §5.1.1): a colliding draw is
// drawn again.
func TestBoundaryAvoidsContent(t *testing.T) {
	body := []byte("xxSECRETBOUNDARYxx" + alphabet)
	draws := []string{"SECRETBOUNDARY", "PLAIN", "OTHER"}
	draw := func() string { b := draws[0]; draws = draws[1:]; return b }
	if b := boundary(body, []Range{{0, 5}, {2, 20}}, []byte("text/plain"), draw); b != "PLAIN" {
		t.Fatalf("boundary %q", b)
	}
	draws = []string{"PLAIN", "OTHER"}
	if b := boundary(body, []Range{{20, 30}}, []byte("text/PLAIN"), draw); b != "OTHER" {
		t.Fatalf("boundary %q inside the Content-Type", b)
	}
	// Outside the ranges it does not matter.
	draws = []string{"SECRETBOUNDARY"}
	if b := boundary(body, []Range{{20, 30}}, nil, draw); b != "SECRETBOUNDARY" {
		t.Fatalf("boundary %q", b)
	}
}
