package gateway

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tiercel/tiercel/gateway/router"
)

// TestRenderTagsAddsThePathTag: every stored entry carries its path's tag
// (RFC 9111 §4.4 invalidation of the target URI), after the route's tags,
// and no user template lands in the path tags' namespace, not even through
// a parameter whose value decodes to the prefix.
func TestRenderTagsAddsThePathTag(t *testing.T) {
	var r router.Router
	if err := r.Add("GET", "/t/{org}/items/{id}", 0); err != nil {
		t.Fatal(err)
	}
	f := func(path string, tmpls []string, want ...string) {
		t.Helper()
		rc := &routeCache{}
		for _, s := range tmpls {
			tm, err := compileTemplate(s, pathParams("/t/{org}/items/{id}"))
			if err != nil {
				t.Fatal(err)
			}
			rc.tags = append(rc.tags, tm)
		}
		var p router.Params
		if _, _, err := r.Match([]byte("GET"), []byte(path), &p); err != nil {
			t.Fatal(err)
		}
		if got := rc.renderTags(&p, []byte(path)); !slices.Equal(got, want) {
			t.Fatalf("%s %q: got %q, want %q", path, tmpls, got, want)
		}
	}
	f("/t/a/items/1", nil, "{}path:/t/a/items/1")
	f("/t/a/items/1", []string{"item:{id}", "org:{org}"}, "item:1", "org:a", "{}path:/t/a/items/1")
	f("/t/caf%C3%A9/items/1", []string{"org:{org}"}, "org:café", "{}path:/t/caf%C3%A9/items/1")
	// A template that starts with a parameter renders the value; one that
	// decodes to the prefix keeps its brace encoded.
	f("/t/%7B%7Dpath:x/items/1", []string{"{org}", "o:{org}"}, "%7B}path:x", "o:{}path:x", "{}path:/t/%7B%7Dpath:x/items/1")
	f("/t/%7Bx/items/1", []string{"{org}"}, "{x", "{}path:/t/%7Bx/items/1")
}

// TestPathTagPrefixIsReserved: a route's tags and invalidate_tags cannot
// be written as path tags, so only the gateway (or an operator's event)
// invalidates a URI's responses by path.
func TestPathTagPrefixIsReserved(t *testing.T) {
	f := func(mutate func(*RouteConfig), want string) {
		t.Helper()
		cfg := testConfig("127.0.0.1:9")
		rc := RouteConfig{Name: "r", Path: "/r/{id}", Upstream: "origin", Auth: RouteAuth{Mode: "none"},
			Cache: RouteCache{Enabled: true, TTL: ttl(time.Minute)}}
		mutate(&rc)
		cfg.Routes = append(cfg.Routes, rc)
		cfg.SetDefaults()
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("Validate: %v, want an error with %q", err, want)
		}
	}
	f(func(r *RouteConfig) { r.Cache.Tags = []string{"{}path:/r/1"} },
		`routes[5].cache.tags[0]: "{}path:/r/1": tags starting with "{}path:" are the gateway's own path tags`)
	f(func(r *RouteConfig) { r.InvalidateTags = []string{"{}path:/r/{id}"} },
		`routes[5].invalidate_tags[0]: "{}path:/r/{id}": tags starting with "{}path:" are the gateway's own path tags`)
}
