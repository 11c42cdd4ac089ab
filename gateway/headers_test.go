package gateway

import (
	"testing"

	"github.com/valyala/fasthttp"
)

func TestRouteHeadersOmitted(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		for i := range c.Routes {
			if c.Routes[i].Name == "products" || c.Routes[i].Name == "limited" {
				c.Routes[i].Headers = RouteHeaders{OmitServerTiming: true, OmitRateLimit: true}
			}
		}
	})
	tok := token(t, nil)
	r := h.get("/api/products/1", tok)
	if r.status != 200 || r.header.Get("X-Request-ID") == "" {
		t.Fatalf("status %d, headers %v", r.status, r.header)
	}
	for _, name := range []string{"Server-Timing", "Ratelimit-Limit", "Ratelimit-Remaining", "Ratelimit-Reset"} {
		if v := r.header.Get(name); v != "" {
			t.Fatalf("%s: %q on a route that omits it", name, v)
		}
	}
	// A route that omits nothing keeps them.
	if r := h.get("/open/x", ""); r.header.Get("Server-Timing") == "" {
		t.Fatalf("no Server-Timing on a default route: %v", r.header)
	}
	// A 429 keeps its RateLimit-* headers: they tell the client when to retry.
	var last reply
	for range 10 {
		if last = h.get("/api/limited/1", tok); last.status == fasthttp.StatusTooManyRequests {
			break
		}
		if last.header.Get("Ratelimit-Remaining") != "" {
			t.Fatalf("RateLimit-Remaining on an admitted request of a route that omits it")
		}
	}
	if last.status != fasthttp.StatusTooManyRequests || last.header.Get("Ratelimit-Limit") == "" || last.header.Get("Retry-After") == "" {
		t.Fatalf("status %d, headers %v", last.status, last.header)
	}
}
