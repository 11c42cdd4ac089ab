package router

import (
	"errors"
	"strings"
	"testing"
)

func newTestRouter(t *testing.T) *Router {
	t.Helper()
	var r Router
	routes := []struct{ method, pattern string }{
		{"GET", "/api/products/{id}"},            // 0
		{"PUT", "/api/products/{id}"},            // 1
		{"GET", "/api/products/featured"},        // 2
		{"GET", "/api/users/{uid}/orders/{oid}"}, // 3
		{"*", "/static/{path...}"},               // 4
		{"POST", "/v1/features"},                 // 5
		{"GET", "/"},                             // 6
		{"POST", "/v1/models/{name}/predict"},    // 7
	}
	for i, rt := range routes {
		if err := r.Add(rt.method, rt.pattern, i); err != nil {
			t.Fatalf("Add(%s %s): %v", rt.method, rt.pattern, err)
		}
	}
	return &r
}

func TestMatch(t *testing.T) {
	r := newTestRouter(t)
	f := func(method, path string, want int, wantParams string, wantErr error) {
		t.Helper()
		var p Params
		got, allow, err := r.Match([]byte(method), []byte(path), &p)
		if !errors.Is(err, wantErr) {
			t.Fatalf("%s %s: err %v, want %v", method, path, err, wantErr)
		}
		if got != want {
			t.Fatalf("%s %s: route %d, want %d", method, path, got, want)
		}
		if err != nil {
			if errors.Is(err, ErrMethodNotAllowed) && allow == "" {
				t.Fatalf("%s %s: 405 without Allow", method, path)
			}
			return
		}
		var kv []string
		for i := 0; i < p.Len(); i++ {
			kv = append(kv, p.Name(i)+"="+string(p.Value(i)))
		}
		if s := strings.Join(kv, ","); s != wantParams {
			t.Fatalf("%s %s: params %q, want %q", method, path, s, wantParams)
		}
	}
	f("GET", "/api/products/42", 0, "id=42", nil)
	f("PUT", "/api/products/42", 1, "id=42", nil)
	f("GET", "/api/products/featured", 2, "", nil)
	f("PUT", "/api/products/featured", 1, "id=featured", nil) // static has no PUT: falls back to the parameter branch
	f("GET", "/api/users/u1/orders/o9", 3, "uid=u1,oid=o9", nil)
	f("GET", "/static/css/site.css", 4, "path=css/site.css", nil)
	f("DELETE", "/static/x", 4, "path=x", nil)
	f("POST", "/v1/features", 5, "", nil)
	f("GET", "/", 6, "", nil)
	f("POST", "/v1/models/churn/predict", 7, "name=churn", nil)

	f("GET", "/api/products", -1, "", ErrNotFound)
	f("GET", "/api/products/", -1, "", ErrNotFound)
	f("GET", "/api/products/42/extra", -1, "", ErrNotFound)
	f("GET", "/api/users/u1/orders", -1, "", ErrNotFound)
	f("GET", "/nope", -1, "", ErrNotFound)
	f("GET", "", -1, "", ErrNotFound)
	f("GET", "api/products/1", -1, "", ErrNotFound)
	f("GET", "/api//42", -1, "", ErrNotFound)
	f("DELETE", "/api/products/42", -1, "", ErrMethodNotAllowed)
	f("GET", "/v1/features", -1, "", ErrMethodNotAllowed)
}

func TestAllowHeader(t *testing.T) {
	r := newTestRouter(t)
	var p Params
	_, allow, err := r.Match([]byte("POST"), []byte("/api/products/1"), &p)
	if !errors.Is(err, ErrMethodNotAllowed) || allow != "GET, PUT" {
		t.Fatalf("got %q, %v; want \"GET, PUT\", ErrMethodNotAllowed", allow, err)
	}
}

func TestAddErrors(t *testing.T) {
	f := func(method, pattern, wantSub string) {
		t.Helper()
		var r Router
		_ = r.Add("GET", "/a/{x}", 0)
		err := r.Add(method, pattern, 1)
		if err == nil || !strings.Contains(err.Error(), wantSub) {
			t.Fatalf("Add(%q): err %v, want it to contain %q", pattern, err, wantSub)
		}
	}
	f("GET", "no-slash", "must start with /")
	f("GET", "/a/{x}", "registered twice")
	f("PUT", "/a/{y}", "parameter names differ")
	f("GET", "/b/{p...}/c", "must be the last segment")
	f("GET", "/b/x{p}", "mixes text")
	f("GET", "/b/{}", "bad parameter name")
	f("GET", "/b/{p}/{p}", "used twice")
	f("GET", "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}", "more than 8")
}

func TestParamsGet(t *testing.T) {
	r := newTestRouter(t)
	var p Params
	if _, _, err := r.Match([]byte("GET"), []byte("/api/users/7/orders/9"), &p); err != nil {
		t.Fatal(err)
	}
	if string(p.Get("oid")) != "9" || string(p.Get("uid")) != "7" || p.Get("nope") != nil {
		t.Fatalf("Get: uid=%q oid=%q", p.Get("uid"), p.Get("oid"))
	}
}

// FuzzMatch: any method and path must match or fail cleanly, and every
// parameter value must be a sub-slice of the path without '/' (catch-alls
// aside).
func FuzzMatch(f *testing.F) {
	for _, s := range []string{"/api/products/42", "/static/a/b", "//", "/api/users/x/orders/", "/\x00/{id}", ""} {
		f.Add("GET", s)
	}
	var r Router
	_ = r.Add("GET", "/api/products/{id}", 0)
	_ = r.Add("GET", "/api/users/{uid}/orders/{oid}", 1)
	_ = r.Add("*", "/static/{path...}", 2)
	_ = r.Add("POST", "/v1/features", 3)
	f.Fuzz(func(t *testing.T, method, path string) {
		var p Params
		idx, _, err := r.Match([]byte(method), []byte(path), &p)
		if err != nil {
			if idx != -1 {
				t.Fatalf("error %v with index %d", err, idx)
			}
			return
		}
		for i := 0; i < p.Len(); i++ {
			v := string(p.Value(i))
			if !strings.Contains(path, v) {
				t.Fatalf("param %q not in path %q", v, path)
			}
			if idx != 2 && (v == "" || strings.Contains(v, "/")) {
				t.Fatalf("bad param %q for route %d, path %q", v, idx, path)
			}
		}
	})
}
