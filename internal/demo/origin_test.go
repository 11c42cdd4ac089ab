package demo

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// A product's ETag names its version, so a cached copy revalidates until an
// update bumps it; an unknown path is a JSON 404.
func TestOriginETagFollowsVersion(t *testing.T) {
	o, err := StartOrigin()
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	do := func(method, path string) (int, string) {
		t.Helper()
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.Header.SetMethod(method)
		req.SetRequestURI("http://" + o.Addr() + path)
		if err := fasthttp.Do(req, resp); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode(), string(resp.Header.Peek("ETag"))
	}
	for _, step := range []struct {
		method, path string
		status       int
		etag         string
	}{
		{"GET", "/api/products/42", 200, `"42-v1"`},
		{"GET", "/api/products/42", 200, `"42-v1"`},
		{"PUT", "/api/products/42", 200, `"42-v2"`},
		{"GET", "/api/products/42", 200, `"42-v2"`},
		{"GET", "/api/products/7", 200, `"7-v1"`},
		{"GET", "/api/nothing", 404, ""},
	} {
		if status, etag := do(step.method, step.path); status != step.status || etag != step.etag {
			t.Errorf("%s %s: %d %s, want %d %s", step.method, step.path, status, etag, step.status, step.etag)
		}
	}
}
