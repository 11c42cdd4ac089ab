package byterange

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The baseline is net/http's ServeContent answering the same Range from
// memory; fasthttp's own fs.go only serves files.

func BenchmarkParseSingle(b *testing.B) {
	var buf [inlineRanges]Range
	value := []byte("bytes=1000-1999")
	b.ReportAllocs()
	for b.Loop() {
		if _, out := Parse(buf[:0], value, 1<<20); out != Partial {
			b.Fatal(out)
		}
	}
}

func BenchmarkApplyNoRange(b *testing.B) {
	resp := stored(b, alphabet)
	get := []byte("GET")
	b.ReportAllocs()
	for b.Loop() {
		Apply(resp, get, nil, nil)
	}
}

func BenchmarkApplySingle(b *testing.B) {
	body := bytes.Repeat([]byte(alphabet), 1<<15)
	resp := stored(b, "")
	get, rng, ifRange := []byte("GET"), []byte("bytes=1000-1999"), []byte(`"v1"`)
	b.ReportAllocs()
	for b.Loop() {
		resp.SetStatusCode(200)
		resp.SetBodyRaw(body)
		if Apply(resp, get, rng, ifRange) != Partial {
			b.Fatal("not Partial")
		}
	}
}

func BenchmarkApplyMultipart(b *testing.B) {
	body := bytes.Repeat([]byte(alphabet), 1<<15)
	resp := stored(b, "")
	get, rng := []byte("GET"), []byte("bytes=0-99,1000-1099,-100")
	b.ReportAllocs()
	for b.Loop() {
		resp.SetStatusCode(200)
		resp.Header.SetContentType("text/plain")
		resp.SetBodyRaw(body)
		if Apply(resp, get, rng, nil) != Partial {
			b.Fatal("not Partial")
		}
	}
}

func BenchmarkNetHTTPServeContentSingle(b *testing.B) {
	body := bytes.Repeat([]byte(alphabet), 1<<15)
	req := httptest.NewRequest("GET", "/x", nil)
	req.Header.Set("Range", "bytes=1000-1999")
	req.Header.Set("If-Range", `"v1"`)
	modtime := time.Unix(0, 0)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		w.Header().Set("Etag", `"v1"`)
		http.ServeContent(w, req, "x.txt", modtime, bytes.NewReader(body))
		if w.Code != 206 || !strings.HasPrefix(w.Body.String(), "mnop") {
			b.Fatal(w.Code)
		}
	}
}
