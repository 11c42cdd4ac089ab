package gateway

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// cache.key.forward_headers: sent to the origin on a fill, not keyed (a
// request-numbering or tracing header); every other unkeyed header still
// never reaches the origin.
func TestForwardHeaders(t *testing.T) {
	h, o := plainCache(t, nil, func(r *RouteConfig) {
		r.Cache.Key.ForwardHeaders = []string{"x-test-number"}
	})
	first := h.raw("GET", "/fwd", "X-Test-Number: 1", "X-Other: secret")
	seen := first.echo(t).Headers
	if got := seen["X-Test-Number"]; len(got) != 1 || got[0] != "1" || len(seen["X-Other"]) != 0 {
		t.Fatalf("the fill sent %v", seen)
	}
	h.srv.current().cache.Wait()
	// Not keyed: another value reads the same entry.
	second := h.rawHit("GET", "/fwd", "X-Test-Number: 2")
	if second.body != first.body {
		t.Fatalf("another X-Test-Number read %q", second.body)
	}
	if n := len(o.requests()); n != 1 {
		t.Fatalf("origin requests %d", n)
	}
}

func TestForwardHeadersValidation(t *testing.T) {
	f := func(fwd []string, want string) {
		t.Helper()
		c := RouteCache{Enabled: true, Key: RouteCacheKey{Headers: []string{"Accept-Language"}, ForwardHeaders: fwd}}
		c.setDefaults()
		errs := strings.Join(c.validate(nil), "; ")
		if want == "" && errs != "" || !strings.Contains(errs, want) {
			t.Fatalf("%q: %q, want %q", fwd, errs, want)
		}
	}
	f([]string{"traceparent", "X-Request-Number"}, "")
	f([]string{"authorization"}, "cache.key.forward_headers[0]: Authorization is a credential")
	f([]string{"cookie"}, "Cookie is a credential")
	f([]string{"connection"}, "Connection is hop-by-hop")
	f([]string{"accept-language"}, "Accept-Language is keyed")
	f([]string{"if-none-match"}, "set by the gateway")
}

// One client request, one origin request: concurrent misses coalesce on
// one fill; when its answer must not be shared (Set-Cookie), the request
// that caused the fill gets that very answer and every waiter fetches its
// own, so no caller gets another's cookie and the origin sees each
// request once.
func TestPassResponseOneOriginRequestEach(t *testing.T) {
	h, o := plainCache(t, nil, func(r *RouteConfig) { r.Timeout = 2 * time.Second })
	var n atomic.Int64
	o.setRespond(func(w http.ResponseWriter, r *http.Request) bool {
		i := n.Add(1)
		if i == 1 {
			time.Sleep(300 * time.Millisecond) // the fill: the others coalesce behind it
		}
		w.Header().Set("Set-Cookie", fmt.Sprintf("session=%d", i))
		fmt.Fprintf(w, "answer %d", i)
		return true
	})
	const clients = 5
	var wg sync.WaitGroup
	got := make([]reply, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i > 0 {
				time.Sleep(50 * time.Millisecond) // after the fill started
			}
			got[i] = h.raw("GET", "/pass")
		}()
	}
	wg.Wait()
	cookies := map[string]bool{}
	for i, r := range got {
		c := r.header.Get("Set-Cookie")
		want := "session=" + strings.TrimPrefix(r.body, "answer ")
		if r.status != 200 || c != want || cookies[c] {
			t.Fatalf("client %d: %d %q with cookie %q (seen before: %v)", i, r.status, r.body, c, cookies[c])
		}
		cookies[c] = true
	}
	if n.Load() != clients {
		t.Fatalf("origin requests %d, want %d", n.Load(), clients)
	}
}
