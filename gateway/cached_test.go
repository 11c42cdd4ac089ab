package gateway

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/valyala/fasthttp"

	"github.com/tiercel/tiercel/internal/testredis"
	"github.com/tiercel/tiercel/internal/testwait"
)

// cachedRoutes adds cached routes to the test config: /c/products/{id}
// (shared, keyed on ?color, tag product:{id}), /c/tiered/{id} (keyed on
// the X-Tier header) and /c/me (private: keyed on the caller).
func cachedRoutes(redisURL string) func(*Config) {
	return func(c *Config) {
		if redisURL != "" { // else the Redis set before (sharedRedis.use), if any
			c.Redis.URL = redisURL
		}
		c.Routes = append(c.Routes,
			RouteConfig{Name: "c-products", Path: "/c/products/{id}", Upstream: "origin", Auth: RouteAuth{Mode: "none"},
				Methods: []string{"GET", "HEAD", "POST"}, Timeout: 300 * time.Millisecond,
				Cache: RouteCache{Enabled: true, TTL: ttl(30 * time.Second), NegativeTTL: 5 * time.Second,
					Key: RouteCacheKey{Query: []string{"color"}}, Tags: []string{"product:{id}"}}},
			RouteConfig{Name: "c-tiered", Path: "/c/tiered/{id}", Upstream: "origin", Auth: RouteAuth{Mode: "none"},
				Cache: RouteCache{Enabled: true, TTL: ttl(30 * time.Second), Key: RouteCacheKey{Headers: []string{"X-Tier"}}}},
			RouteConfig{Name: "c-me", Path: "/c/me", Upstream: "origin",
				Cache: RouteCache{Enabled: true, TTL: ttl(30 * time.Second), Key: RouteCacheKey{Private: true}}},
		)
	}
}

// versionedOrigin answers with a per-path version that bump increments, and
// echoes what a fill sent it.
type versionedOrigin struct {
	mu       sync.Mutex
	version  map[string]int
	hits     atomic.Int64
	cc       atomic.Value // Cache-Control to send
	extra    atomic.Value // func(ctx) run before answering
	lastSeen atomic.Value // the last request URI
}

func newVersionedOrigin(o *testOrigin) *versionedOrigin {
	v := &versionedOrigin{version: map[string]int{}}
	v.cc.Store("")
	o.serve(v.handle)
	return v
}

func (v *versionedOrigin) handle(ctx *fasthttp.RequestCtx) {
	v.hits.Add(1)
	v.lastSeen.Store(string(ctx.RequestURI()) + " tier=" + string(ctx.Request.Header.Peek("X-Tier")) +
		" fwd-host=" + string(ctx.Request.Header.Peek("X-Forwarded-Host")))
	if f, ok := v.extra.Load().(func(*fasthttp.RequestCtx) bool); ok && f != nil && f(ctx) {
		return
	}
	path := string(ctx.Path())
	if strings.HasSuffix(path, "/missing") {
		ctx.SetStatusCode(404)
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"error":{"code":"not_found","message":"no such product"}}`)
		return
	}
	v.mu.Lock()
	ver := v.version[path]
	v.mu.Unlock()
	if cc := v.cc.Load().(string); cc != "" {
		ctx.Response.Header.Set("Cache-Control", cc)
	}
	ctx.SetContentType("application/json")
	sub := ""
	if tok := ctx.Request.Header.Peek("Authorization"); len(tok) > 0 {
		t, _, _ := jwt.NewParser().ParseUnverified(strings.TrimPrefix(string(tok), "Bearer "), jwt.MapClaims{})
		if t != nil {
			sub, _ = t.Claims.(jwt.MapClaims)["sub"].(string)
		}
	}
	ctx.SetBodyString(fmt.Sprintf(`{"path":%q,"color":%q,"version":%d,"sub":%q}`, path, ctx.QueryArgs().Peek("color"), ver, sub))
}

func (v *versionedOrigin) bump(path string) {
	v.mu.Lock()
	v.version[path]++
	v.mu.Unlock()
}

func TestCacheHitL1AfterMiss(t *testing.T) {
	h := newHarness(t, cachedRoutes(""))
	o := newVersionedOrigin(h.origin)
	r := h.get("/c/products/1", "")
	if r.status != 200 || r.header.Get("X-Cache") != "MISS" || !strings.HasPrefix(r.header.Get("Cache-Status"), "tiercel; fwd=uri-miss; stored") {
		t.Fatalf("first: %d X-Cache=%q Cache-Status=%q", r.status, r.header.Get("X-Cache"), r.header.Get("Cache-Status"))
	}
	h.srv.current().cache.Wait()
	r2 := h.get("/c/products/1", "")
	if r2.header.Get("X-Cache") != "HIT-L1" || r2.body != r.body || r2.header.Get("Age") == "" {
		t.Fatalf("second: X-Cache=%q Age=%q body %q vs %q", r2.header.Get("X-Cache"), r2.header.Get("Age"), r2.body, r.body)
	}
	if !strings.HasPrefix(r2.header.Get("Cache-Status"), "tiercel; hit; ttl=") || r2.header.Get("Content-Type") != "application/json" {
		t.Fatalf("hit headers: %v", r2.header)
	}
	if st := r2.header.Get("Server-Timing"); !strings.Contains(st, "l1;dur=") {
		t.Fatalf("Server-Timing %q", st)
	}
	if n := o.hits.Load(); n != 1 {
		t.Fatalf("origin hits %d, want 1", n)
	}
	// HEAD is answered from the stored GET, without a body.
	if r := h.do("HEAD", "/c/products/1", "", nil, nil); r.status != 200 || r.header.Get("X-Cache") != "HIT-L1" || r.body != "" {
		t.Fatalf("HEAD: %d %q %q", r.status, r.header.Get("X-Cache"), r.body)
	}
	// Other methods bypass the cache.
	if r := h.do("POST", "/c/products/1", "", strings.NewReader("x"), nil); r.header.Get("X-Cache") != "BYPASS" {
		t.Fatalf("POST: X-Cache=%q", r.header.Get("X-Cache"))
	}
	m := h.metrics(t)
	for _, want := range []string{
		`tiercel_cache_lookups_total{cache="hit_l1"} 2`,
		`tiercel_cache_lookups_total{cache="miss"} 1`,
		`tiercel_cache_l2_breaker{state="disabled"} 1`,
		`cache="hit_l1",route="c-products",status="200"`,
	} {
		if !strings.Contains(m, want) {
			t.Fatalf("/metrics lacks %s", want)
		}
	}
}

func (h *harness) metrics(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(h.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b := make([]byte, 4<<20)
	n, _ := readAll(resp, b)
	return string(b[:n])
}

func TestCacheKeyAndPoisoning(t *testing.T) {
	h := newHarness(t, cachedRoutes(""))
	o := newVersionedOrigin(h.origin)
	base := h.get("/c/products/7?color=red", "")
	// Unkeyed query parameters and headers neither reach the origin on a
	// fill nor select another entry.
	h.srv.current().cache.Wait()
	evil := h.do("GET", "/c/products/7?evil=1&color=red", "", nil, map[string]string{"X-Forwarded-Host": "evil.example", "X-Evil": "1"})
	if evil.header.Get("X-Cache") != "HIT-L1" || evil.body != base.body {
		t.Fatalf("unkeyed input changed the answer: %q %q", evil.header.Get("X-Cache"), evil.body)
	}
	if seen := o.lastSeen.Load().(string); strings.Contains(seen, "evil") {
		t.Fatalf("origin saw unkeyed input: %s", seen)
	}
	h.pollCache(t, "/c/products/7?color=blue", nil, "MISS")
	if !strings.Contains(o.lastSeen.Load().(string), "color=blue") {
		t.Fatalf("keyed parameter not forwarded: %s", o.lastSeen.Load())
	}
	plain := h.get("/c/tiered/7", "")
	if seen := o.lastSeen.Load().(string); strings.Contains(seen, "tier=gold") {
		t.Fatalf("header sent without being asked: %s", seen)
	}
	gold := h.pollCache(t, "/c/tiered/7", map[string]string{"X-Tier": "gold"}, "MISS")
	if seen := o.lastSeen.Load().(string); !strings.Contains(seen, "tier=gold") {
		t.Fatalf("keyed header not forwarded: %s", seen)
	}
	h.srv.current().cache.Wait()
	if r := h.get("/c/tiered/7", ""); r.header.Get("X-Cache") != "HIT-L1" || plain.header.Get("X-Cache") != "MISS" || gold.body == "" {
		t.Fatalf("header variants: %q", r.header.Get("X-Cache"))
	}
	// A header the key ignores is not forwarded on a fill.
	h.do("GET", "/c/products/8", "", nil, map[string]string{"X-Tier": "gold"})
	if seen := o.lastSeen.Load().(string); strings.Contains(seen, "tier=gold") {
		t.Fatalf("unkeyed header forwarded: %s", seen)
	}
	if n := o.hits.Load(); n != 5 {
		t.Fatalf("origin hits %d, want 5 (red, blue, tiered plain, tiered gold, 8)", n)
	}
}

func TestCachePrivateRouteIsolatesTenants(t *testing.T) {
	h := newHarness(t, cachedRoutes(""))
	o := newVersionedOrigin(h.origin)
	alice := token(t, jwt.MapClaims{"sub": "alice", "tenant": "acme"})
	bob := token(t, jwt.MapClaims{"sub": "bob", "tenant": "globex"})
	ra := h.get("/c/me", alice)
	rb := h.get("/c/me", bob)
	if !strings.Contains(ra.body, `"sub":"alice"`) || !strings.Contains(rb.body, `"sub":"bob"`) || rb.header.Get("X-Cache") != "MISS" {
		t.Fatalf("alice %q, bob %q (%s)", ra.body, rb.body, rb.header.Get("X-Cache"))
	}
	h.srv.current().cache.Wait()
	if r := h.get("/c/me", alice); r.header.Get("X-Cache") != "HIT-L1" || !strings.Contains(r.body, `"sub":"alice"`) {
		t.Fatalf("alice again: %q %q", r.header.Get("X-Cache"), r.body)
	}
	// Same subject name under another tenant is another caller.
	carol := token(t, jwt.MapClaims{"sub": "alice", "tenant": "globex"})
	if r := h.get("/c/me", carol); r.header.Get("X-Cache") != "MISS" {
		t.Fatalf("same sub, other tenant: %q", r.header.Get("X-Cache"))
	}
	if o.hits.Load() != 3 {
		t.Fatalf("origin hits %d", o.hits.Load())
	}
}

func TestCacheNeverStoresUnshareableResponses(t *testing.T) {
	for _, tc := range []struct{ name, header, value string }{
		{"set-cookie", "Set-Cookie", "session=secret"},
		{"no-store", "Cache-Control", "no-store"},
		{"private", "Cache-Control", "private, max-age=60"},
		{"vary on an unkeyed header", "Vary", "X-Unkeyed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, cachedRoutes(""))
			o := newVersionedOrigin(h.origin)
			o.extra.Store(func(ctx *fasthttp.RequestCtx) bool {
				ctx.Response.Header.Set(tc.header, tc.value)
				return false
			})
			for i := 0; i < 3; i++ {
				r := h.get("/c/products/9", "")
				if r.status != 200 || r.header.Get("X-Cache") == "HIT-L1" {
					t.Fatalf("request %d: %d X-Cache=%q", i, r.status, r.header.Get("X-Cache"))
				}
				// The fill's caller gets the very response (issue 14: one
				// client request, one origin request), Set-Cookie included.
				if got := r.header.Values(tc.header); !strings.Contains(strings.Join(got, ","), tc.value) {
					t.Fatalf("request %d: %s %q, want %q", i, tc.header, got, tc.value)
				}
			}
			// The fill that learnt "pass" answered its caller; then every
			// request goes to the origin on its own (hit_for_pass).
			if n := o.hits.Load(); n != 3 {
				t.Fatalf("origin hits %d, want 3: one per request", n)
			}
		})
	}
}

func TestCacheCoalescesMisses(t *testing.T) {
	h := newHarness(t, cachedRoutes(""))
	o := newVersionedOrigin(h.origin)
	release := make(chan struct{})
	o.extra.Store(func(*fasthttp.RequestCtx) bool { <-release; return false })
	const n = 20
	var wg sync.WaitGroup
	bodies := make(chan string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(h.base + "/c/products/5")
			if err != nil {
				bodies <- "error: " + err.Error()
				return
			}
			defer resp.Body.Close()
			b := make([]byte, 4096)
			m, _ := readAll(resp, b)
			bodies <- fmt.Sprint(resp.StatusCode) + string(b[:m])
		}()
	}
	testwait.For(t, 5*time.Second, "the fill to reach the origin", func() bool { return o.hits.Load() == 1 })
	testwait.For(t, 5*time.Second, "all requests to wait on the fill", func() bool {
		return h.srv.current().cache.Stats().CoalescedWaits >= n-1
	})
	close(release)
	wg.Wait()
	close(bodies)
	for b := range bodies {
		if !strings.HasPrefix(b, "200") {
			t.Fatalf("a coalesced request got %q", b)
		}
	}
	if got := o.hits.Load(); got != 1 {
		t.Fatalf("%d concurrent misses made %d origin calls", n, got)
	}
}

func TestCacheNegative(t *testing.T) {
	h := newHarness(t, cachedRoutes(""))
	o := newVersionedOrigin(h.origin)
	if r := h.get("/c/products/missing", ""); r.status != 404 || r.header.Get("X-Cache") != "MISS" {
		t.Fatalf("first 404: %d %q", r.status, r.header.Get("X-Cache"))
	}
	h.srv.current().cache.Wait()
	if r := h.get("/c/products/missing", ""); r.status != 404 || r.header.Get("X-Cache") != "HIT-L1" {
		t.Fatalf("second 404: %d %q", r.status, r.header.Get("X-Cache"))
	}
	if o.hits.Load() != 1 {
		t.Fatalf("origin hits %d", o.hits.Load())
	}
}

func TestCacheStaleWhileRevalidate(t *testing.T) {
	h := newHarness(t, cachedRoutes(""))
	o := newVersionedOrigin(h.origin)
	o.cc.Store("max-age=1, stale-while-revalidate=60")
	first := h.get("/c/products/3", "")
	o.bump("/c/products/3")
	// Once fresh runs out the old version is served as STALE while one
	// refresh runs; then the new version is a hit.
	stale := h.pollCache(t, "/c/products/3", nil, "STALE")
	if stale.body != first.body {
		t.Fatalf("stale body %q, want the first %q", stale.body, first.body)
	}
	testwait.For(t, 5*time.Second, "the refresh", func() bool {
		r := h.get("/c/products/3", "")
		return strings.Contains(r.body, `"version":1`) && r.header.Get("X-Cache") == "HIT-L1"
	})
	if n := o.hits.Load(); n != 2 {
		t.Fatalf("origin hits %d, want 2 (fill + one refresh)", n)
	}
}

func TestCacheStaleIfError(t *testing.T) {
	h := newHarness(t, cachedRoutes(""))
	o := newVersionedOrigin(h.origin)
	o.cc.Store("max-age=1, stale-if-error=60")
	first := h.get("/c/products/4", "")
	for _, fault := range []string{"500", "hang"} {
		o.extra.Store(func(ctx *fasthttp.RequestCtx) bool {
			if fault == "hang" {
				time.Sleep(2 * time.Second) // longer than the route's 300ms budget
				return false
			}
			ctx.SetStatusCode(503)
			return true
		})
		r := h.pollCache(t, "/c/products/4", nil, "STALE")
		if r.status != 200 || r.body != first.body {
			t.Fatalf("%s: %d %q", fault, r.status, r.body)
		}
	}
}

func TestCacheTwoTiersAndTagInvalidation(t *testing.T) {
	onEachRedis(t, testCacheTwoTiersAndTagInvalidation)
}

func testCacheTwoTiersAndTagInvalidation(t *testing.T, rs *sharedRedis) {
	// The default 5ms L2 budget includes B's first dial: on a busy machine
	// (make test runs packages in parallel, with -race) it could time out,
	// B would fill from its own origin and never see an L2 hit.
	routes := rs.use(func(c *Config) {
		cachedRoutes("")(c)
		c.Cache.L2Timeout = time.Second
	})
	a := newHarness(t, routes)
	oa := newVersionedOrigin(a.origin)
	b := newHarness(t, routes)
	ob := newVersionedOrigin(b.origin)
	// A's L2 write is behind its response: wait for it, or B may miss L2,
	// fill from its own origin and never see an L2 hit. On a busy machine
	// A's first fill can miss its budget, so A asks again until it stored.
	testwait.For(t, 10*time.Second, "A's entry in L2", func() bool {
		a.get("/c/products/42", "")
		return len(rs.keys(t, "tiercel:e:*products/42*")) > 0
	})
	r := b.pollCache(t, "/c/products/42", nil, "HIT-L2")
	if st := r.header.Get("Cache-Status"); !strings.Contains(st, "detail=l2") {
		t.Fatalf("Cache-Status %q", st)
	}
	if ob.hits.Load() != 0 {
		t.Fatalf("B went to its origin")
	}
	b.srv.current().cache.Wait()
	if r := b.get("/c/products/42", ""); r.header.Get("X-Cache") != "HIT-L1" {
		t.Fatalf("B after L2 hit: %q", r.header.Get("X-Cache"))
	}
	// Invalidate the tag through A's admin API: A's L1 and the shared L2.
	oa.bump("/c/products/42")
	a.invalidate(t, `{"tags":["product:42"]}`, `"tags":1`)
	written := a.srv.current().cache.Stats().L2Writes
	if r := a.get("/c/products/42", ""); r.header.Get("X-Cache") != "MISS" || !strings.Contains(r.body, `"version":1`) {
		t.Fatalf("A after invalidation: %q %q", r.header.Get("X-Cache"), r.body)
	}
	testwait.For(t, 10*time.Second, "A's refill in L2", func() bool { return a.srv.current().cache.Stats().L2Writes > written })
	// A third instance starts with an empty L1: the old entry must not come
	// back from L2; the refilled one does.
	c := newHarness(t, routes)
	newVersionedOrigin(c.origin)
	if r := c.get("/c/products/42", ""); r.header.Get("X-Cache") != "HIT-L2" || !strings.Contains(r.body, `"version":1`) {
		t.Fatalf("C: %q %q", r.header.Get("X-Cache"), r.body)
	}
	// B applies the invalidation too (Kafka will broadcast it): its L1 copy goes.
	b.invalidate(t, `{"tags":["product:42"]}`, `"tags":1`)
	if r := b.get("/c/products/42", ""); r.header.Get("X-Cache") == "HIT-L1" && strings.Contains(r.body, `"version":0`) {
		t.Fatalf("B served the invalidated version")
	}
	// Key invalidation by path.
	a.invalidate(t, `{"keys":["/c/products/42"]}`, `"keys":1`)
	if r := a.get("/c/products/42", ""); r.header.Get("X-Cache") != "MISS" {
		t.Fatalf("A after key invalidation: %q", r.header.Get("X-Cache"))
	}
}

func TestCacheSurvivesRedisFaults(t *testing.T) {
	rs := testredis.Start(t)
	h := newHarness(t, cachedRoutes(rs.URL()))
	o := newVersionedOrigin(h.origin)
	h.get("/c/products/1", "")
	for _, fault := range []struct {
		name          string
		inject, clear func()
	}{
		{"killed", rs.Kill, rs.Restart},
		{"stopped", rs.Pause, rs.Resume},
	} {
		t.Run(fault.name, func(t *testing.T) {
			fault.inject()
			for i := 0; i < 20; i++ {
				path := fmt.Sprintf("/c/products/%s-%d", fault.name, i)
				start := time.Now()
				r := h.get(path, "")
				if r.status != 200 {
					t.Fatalf("%s during fault: %d", path, r.status)
				}
				h.srv.current().cache.Wait()
				// Generous hang guard, not a latency assertion: the route's
				// budget is 300ms.
				if el := time.Since(start); el > 3*time.Second {
					t.Fatalf("%s took %v with Redis %s", path, el, fault.name)
				}
				if r := h.get(path, ""); r.header.Get("X-Cache") != "HIT-L1" {
					t.Fatalf("%s: L1 does not work while Redis is %s: %q", path, fault.name, r.header.Get("X-Cache"))
				}
			}
			if rd := h.srv.Readiness(context.Background()); rd.Checks["cache_l2"].Status == "ok" {
				t.Fatalf("readyz does not report the L2 fault: %+v", rd.Checks["cache_l2"])
			}
			fault.clear()
			// Back to two tiers: a fresh key filled now reaches L2, which a
			// second instance reads.
			other := newHarness(t, cachedRoutes(rs.URL()))
			newVersionedOrigin(other.origin)
			testwait.For(t, 15*time.Second, "L2 to come back", func() bool {
				path := fmt.Sprintf("/c/products/back-%s-%d", fault.name, time.Now().UnixNano())
				h.get(path, "")
				return other.getEventually(path, "HIT-L2", 2*time.Second)
			})
		})
	}
	_ = o
}

// pollCache repeats a GET until X-Cache says want.
func (h *harness) pollCache(t *testing.T, path string, hdr map[string]string, want string) reply {
	t.Helper()
	var r reply
	testwait.For(t, 10*time.Second, path+" to be "+want, func() bool {
		r = h.do("GET", path, "", nil, hdr)
		return r.header.Get("X-Cache") == want
	})
	return r
}

func (h *harness) getEventually(path, want string, within time.Duration) bool {
	return testwait.Until(within, func() bool { return h.get(path, "").header.Get("X-Cache") == want })
}

func (h *harness) invalidate(t *testing.T, body, want string) {
	t.Helper()
	resp, err := http.Post(h.admin+"/admin/invalidate", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b := make([]byte, 4096)
	n, _ := readAll(resp, b)
	if resp.StatusCode != 200 || !strings.Contains(string(b[:n]), want) {
		t.Fatalf("invalidate %s: %d %s", body, resp.StatusCode, b[:n])
	}
}

// TestWriteInvalidatesItsTags: a successful PUT through a route with
// invalidate_tags drops the cached GET; a failed one does not.
func TestWriteInvalidatesItsTags(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		cachedRoutes("")(c)
		c.Routes = append(c.Routes, RouteConfig{Name: "c-products-write", Path: "/c/products/{id}", Methods: []string{"PUT"},
			Upstream: "origin", Auth: RouteAuth{Mode: "none"}, InvalidateTags: []string{"product:{id}"}})
	})
	o := newVersionedOrigin(h.origin)
	h.get("/c/products/6", "")
	h.srv.current().cache.Wait()
	o.extra.Store(func(ctx *fasthttp.RequestCtx) bool {
		if ctx.IsPut() {
			if string(ctx.PostBody()) == "fail" {
				ctx.SetStatusCode(409)
				ctx.Response.Header.Set("X-Origin", "yes")
				return true
			}
			o.bump(string(ctx.Path()))
		}
		return false
	})
	if r := h.do("PUT", "/c/products/6", "", strings.NewReader("fail"), nil); r.status != 409 {
		t.Fatalf("failed PUT: %d", r.status)
	}
	if r := h.get("/c/products/6", ""); r.header.Get("X-Cache") != "HIT-L1" {
		t.Fatalf("a failed write invalidated: %q", r.header.Get("X-Cache"))
	}
	if r := h.do("PUT", "/c/products/6", "", strings.NewReader("ok"), nil); r.status != 200 {
		t.Fatalf("PUT: %d", r.status)
	}
	if r := h.get("/c/products/6", ""); r.header.Get("X-Cache") != "MISS" || !strings.Contains(r.body, `"version":1`) {
		t.Fatalf("after the write: %q %q", r.header.Get("X-Cache"), r.body)
	}
}
