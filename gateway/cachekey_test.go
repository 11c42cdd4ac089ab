package gateway

import (
	"slices"
	"testing"

	"github.com/tiercel/tiercel/gateway/router"
)

func TestRenderTemplates(t *testing.T) {
	var r router.Router
	if err := r.Add("GET", "/t/{org}/items/{id}", 0); err != nil {
		t.Fatal(err)
	}
	f := func(path string, tmpls []string, want []string) {
		t.Helper()
		var ts []template
		for _, s := range tmpls {
			tm, err := compileTemplate(s, pathParams("/t/{org}/items/{id}"))
			if err != nil {
				t.Fatal(err)
			}
			ts = append(ts, tm)
		}
		var p router.Params
		if _, _, err := r.Match([]byte("GET"), []byte(path), &p); err != nil {
			t.Fatal(err)
		}
		got := renderTemplates(ts, &p, nil)
		if !slices.Equal(got, want) {
			t.Fatalf("%s %q: got %q, want %q", path, tmpls, got, want)
		}
	}
	f("/t/acme/items/42", nil, nil)
	f("/t/acme/items/42", []string{"item:{id}"}, []string{"item:42"})
	f("/t/acme/items/42", []string{"org:{org}", "item:{org}/{id}", "all-items", "{id}"},
		[]string{"org:acme", "item:acme/42", "all-items", "42"})
	f("/t/a/items/7", []string{"item:{id}:x", "org:{org}"}, []string{"item:7:x", "org:a"})
	// Parameters are views of the normal-form path; tags carry their values.
	f("/t/caf%C3%A9/items/a%2Fb", []string{"org:{org}", "item:{id}"}, []string{"org:café", "item:a/b"})
}
