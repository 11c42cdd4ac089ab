package byterange

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// ApplyRequest reads the method and both fields from the request; a
// repeated Range or If-Range is ignored as a whole (the full 200).
func TestApplyRequest(t *testing.T) {
	f := func(want Outcome, method string, fields ...string) {
		t.Helper()
		var req fasthttp.RequestHeader
		req.SetMethod(method)
		for i := 0; i < len(fields); i += 2 {
			req.Add(fields[i], fields[i+1])
		}
		if got := ApplyRequest(stored(t, "0123456789"), &req); got != want {
			t.Fatalf("%s %q: %v, want %v", method, fields, got, want)
		}
	}
	f(Full, "GET")
	f(Partial, "GET", "Range", "bytes=0-1")
	f(Full, "HEAD", "Range", "bytes=0-1")
	f(Unsatisfiable, "GET", "Range", "bytes=20-")
	f(Full, "GET", "Range", "bytes=0-1", "Range", "bytes=2-3")
	f(Full, "GET", "Range", "bytes=0-1", "If-Range", `"v1"`, "If-Range", `"v1"`)
	f(Partial, "GET", "Range", "bytes=0-1", "If-Range", `"v1"`)
	f(Full, "GET", "Range", "bytes=0-1", "If-Range", `"v2"`)
}
