package gateway

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tiercel/tiercel/internal/testwait"
)

// Unsafe-method invalidation, RFC 9111 §4.4, end to end: replicas sharing
// a real Redis in front of an origin that counts successful writes.

// writeOrigin answers a GET with the number of successful writes so far,
// so a test tells a response stored before a write from one filled after
// it. Writes are answered 200 unless answer says otherwise; a status
// under 400 counts as a write.
type writeOrigin struct {
	srv     *httptest.Server
	version atomic.Int64
	mu      sync.Mutex
	gets    map[string]int
	// answer sets a write's response headers and returns its status.
	answer func(w http.ResponseWriter, r *http.Request) int
	// hold runs on a GET after the version was read, before it is sent.
	hold func(r *http.Request)
}

func startWriteOrigin(t *testing.T) *writeOrigin {
	t.Helper()
	o := &writeOrigin{gets: map[string]int{}}
	o.srv = httptest.NewServer(http.HandlerFunc(o.handle))
	t.Cleanup(o.srv.Close)
	return o
}

func (o *writeOrigin) handle(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	o.mu.Lock()
	answer, hold := o.answer, o.hold
	if r.Method == http.MethodGet {
		o.gets[r.URL.Path]++
	}
	o.mu.Unlock()
	if r.Method != http.MethodGet {
		status := http.StatusOK
		if answer != nil {
			status = answer(w, r)
		}
		if status < 400 {
			o.version.Add(1)
		}
		w.WriteHeader(status)
		return
	}
	v := o.version.Load()
	if hold != nil {
		hold(r)
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"path":%q,"version":%d}`, r.URL.Path, v)
}

func (o *writeOrigin) setAnswer(f func(w http.ResponseWriter, r *http.Request) int) {
	o.mu.Lock()
	o.answer = f
	o.mu.Unlock()
}

func (o *writeOrigin) getsOf(path string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.gets[path]
}

// writeRoutes: /w/{id} is cached, keyed on a query parameter, a header and
// the caller (anonymous callers share one answer), and takes POST; PUT,
// DELETE, PATCH and OPTIONS go to a route of the same pattern without a
// cache block.
func writeRoutes(redisURL string) func(*Config) {
	return func(c *Config) {
		if redisURL != "" { // else the Redis set before (sharedRedis.use), if any
			c.Redis.URL = redisURL
		}
		c.Routes = append(c.Routes,
			RouteConfig{Name: "w", Path: "/w/{id}", Methods: []string{"GET", "HEAD", "POST"}, Upstream: "origin",
				Auth: RouteAuth{Mode: "optional"}, Timeout: 2 * time.Second,
				Cache: RouteCache{Enabled: true, TTL: ttl(time.Minute), Tags: []string{"item:{id}"},
					Key: RouteCacheKey{Query: []string{"a"}, Headers: []string{"Accept-Language"}, Private: true}}},
			RouteConfig{Name: "w-write", Path: "/w/{id}", Methods: []string{"PUT", "DELETE", "PATCH", "OPTIONS"},
				Upstream: "origin", Auth: RouteAuth{Mode: "none"}, Timeout: time.Second},
		)
	}
}

type writePair struct {
	a, b   *harness
	origin *writeOrigin
	redis  *sharedRedis
}

// newWritePair is two replicas sharing a redis-server of their own.
func newWritePair(t *testing.T, mutate func(*Config)) *writePair {
	t.Helper()
	return newWritePairOn(t, singleRedis(t), mutate)
}

func newWritePairOn(t *testing.T, r *sharedRedis, mutate func(*Config)) *writePair {
	t.Helper()
	o := startWriteOrigin(t)
	cfg := r.use(func(c *Config) {
		writeRoutes("")(c)
		if mutate != nil {
			mutate(c)
		}
	})
	addr := strings.TrimPrefix(o.srv.URL, "http://")
	return &writePair{a: startReplica(t, addr, cfg), b: startReplica(t, addr, cfg), origin: o, redis: r}
}

// variant is one keyed variant of a URI: a target and header lines.
type variant struct {
	target string
	lines  []string
}

// variants of path: two query variants, a keyed header, a private caller.
func variants(t *testing.T, path string) []variant {
	return []variant{
		{path + "?a=1", nil}, {path + "?a=2", nil},
		{path, []string{"Accept-Language: is"}},
		{path + "?a=1", []string{"Authorization: Bearer " + token(t, nil)}},
	}
}

// version reads the origin's write count from a GET's answer.
func (r reply) version(t *testing.T) int64 {
	t.Helper()
	var b struct{ Version int64 }
	if err := json.Unmarshal([]byte(r.body), &b); err != nil {
		t.Fatalf("not an origin answer (%d %s): %q", r.status, r.header.Get("X-Cache"), r.body)
	}
	return b.Version
}

// warm stores every variant in h's L1: it repeats each request until L1
// answers it (an L2 hit is copied into L1, and a ristretto Set may be
// dropped).
func warm(t *testing.T, h *harness, vs []variant) {
	t.Helper()
	for _, v := range vs {
		testwait.For(t, 5*time.Second, "L1 to answer "+v.target+" "+strings.Join(v.lines, ""), func() bool {
			h.srv.current().cache.Wait()
			return h.raw("GET", v.target, v.lines...).header.Get("X-Cache") == "HIT-L1"
		})
	}
}

// write sends an unsafe request and checks its status.
func write(t *testing.T, h *harness, method, target string, want int) {
	t.Helper()
	if r := h.raw(method, target, "Content-Length: 0"); r.status != want {
		t.Fatalf("%s %s: %d, want %d (%q)", method, target, r.status, want, r.body)
	}
}

// expect checks that each variant is served as want says: "MISS" with a
// version filled after the write, or "HIT-L1" with the one from before.
func expect(t *testing.T, h *harness, vs []variant, before int64, want string) {
	t.Helper()
	for _, v := range vs {
		r := h.raw("GET", v.target, v.lines...)
		got, ver := r.header.Get("X-Cache"), r.version(t)
		if got != want || (want == "MISS") != (ver > before) {
			t.Fatalf("GET %s %q: X-Cache %q version %d (before the write: %d), want %s", v.target, v.lines, got, ver, before, want)
		}
	}
}

// TestUnsafeMethodsInvalidateEveryVariant: RFC 9111 §4.4: a 2xx to POST,
// PUT, DELETE or PATCH invalidates the target URI's stored responses, every
// keyed variant of it (query, header, private caller), with no route
// configuration, whether the write's route is the cached one (POST) or one
// without a cache block (the others). The other replica shares L2: what it
// reads there is invalidated too.
func TestUnsafeMethodsInvalidateEveryVariant(t *testing.T) {
	onEachRedis(t, testUnsafeMethodsInvalidateEveryVariant)
}

func testUnsafeMethodsInvalidateEveryVariant(t *testing.T, rs *sharedRedis) {
	p := newWritePairOn(t, rs, nil)
	for _, method := range []string{"POST", "PUT", "DELETE", "PATCH"} {
		path := "/w/" + strings.ToLower(method)
		vs := variants(t, path)
		warm(t, p.a, vs)
		before := p.origin.version.Load()
		write(t, p.a, method, path, 200)
		expect(t, p.a, vs, before, "MISS")
		for _, v := range vs {
			if r := p.b.raw("GET", v.target, v.lines...); r.version(t) <= before {
				t.Fatalf("%s: replica B read %s %q from before the write (%s)", method, v.target, v.lines, r.header.Get("X-Cache"))
			}
		}
	}
	if m := p.a.metrics(t); !strings.Contains(m, "tiercel_unsafe_invalidations_total 4\n") {
		t.Fatalf("/metrics: unsafe invalidations not counted:\n%s", grepLines(m, "unsafe"))
	}
}

// TestUnsafeMethodErrorsInvalidateNothing: RFC 9111 §4.4 invalidates only
// after a non-error status; a 4xx or 5xx write, and a safe method
// (OPTIONS), leave every stored response.
func TestUnsafeMethodErrorsInvalidateNothing(t *testing.T) {
	p := newWritePair(t, nil)
	vs := variants(t, "/w/e")
	warm(t, p.a, vs)
	before := p.origin.version.Load()
	for _, status := range []int{400, 404, 409, 500, 503} {
		p.origin.setAnswer(func(http.ResponseWriter, *http.Request) int { return status })
		write(t, p.a, "POST", "/w/e", status)
		write(t, p.a, "PUT", "/w/e", status)
		expect(t, p.a, vs, before, "HIT-L1")
	}
	p.origin.setAnswer(nil)
	write(t, p.a, "OPTIONS", "/w/e", 200) // the origin counts it as a write: the gateway must not
	expect(t, p.a, vs, before, "HIT-L1")
}

// TestUnsafeMethodInvalidatesSameOriginLocations: RFC 9111 §4.4: the URIs
// in Location and Content-Location are invalidated only if their host is
// the target URI's: relative references, and absolute ones with the
// request's Host, are; other hosts and ports are not. A 3xx answer is not
// an error.
func TestUnsafeMethodInvalidatesSameOriginLocations(t *testing.T) {
	p := newWritePair(t, nil)
	all := func(paths ...string) (vs []variant) {
		for _, path := range paths {
			vs = append(vs, variant{target: path})
		}
		return vs
	}
	f := func(location, contentLocation string, status int, invalidated, kept []variant) {
		t.Helper()
		warm(t, p.a, append(all("/w/x"), append(invalidated, kept...)...))
		p.origin.setAnswer(func(w http.ResponseWriter, _ *http.Request) int {
			// "|" separates field lines: every line counts (RFC 9110 §5.3).
			for _, l := range strings.Split(location, "|") {
				w.Header().Add("Location", l)
			}
			for _, l := range strings.Split(contentLocation, "|") {
				w.Header().Add("Content-Location", l)
			}
			return status
		})
		before := p.origin.version.Load()
		write(t, p.a, "POST", "/w/x", status)
		expect(t, p.a, append(all("/w/x"), invalidated...), before, "MISS")
		expect(t, p.a, kept, before, "HIT-L1")
	}
	f("/w/y", "http://gateway.test/w/z", 201, all("/w/y", "/w/z"), all("/w/q"))
	f("s", "//GATEWAY.test/w/r", 303, all("/w/s", "/w/r"), all("/w/y"))
	f("http://other.example/w/y", "http://gateway.test:8080/w/z", 201, nil, all("/w/y", "/w/z"))
	f("//other.example/w/y", "ftp://gateway.test/w/z", 201, nil, all("/w/y", "/w/z"))
	f("http://other.example/w/y|/w/t", "/w/u|/w/v", 201, all("/w/t", "/w/u", "/w/v"), all("/w/y"))
}

// TestUnsafeMethodWithRedisDown: the write itself succeeded, so a Redis
// that is down changes nothing for its client (a 2xx), and this replica's
// L1 is still invalidated (RFC 9111 §4.4); the failure is counted.
func TestUnsafeMethodWithRedisDown(t *testing.T) {
	p := newWritePair(t, nil)
	vs := variants(t, "/w/down")
	warm(t, p.a, vs)
	p.redis.server.Kill()
	before := p.origin.version.Load()
	write(t, p.a, "PUT", "/w/down", 200)
	expect(t, p.a, vs, before, "MISS")
	if m := p.a.metrics(t); !strings.Contains(m, "tiercel_write_invalidation_l2_errors_total 1\n") {
		t.Fatalf("/metrics: the L2 failure is not counted:\n%s", grepLines(m, "l2_errors"))
	}
}

// TestUnsafeMethodFencesAFillInFlight: a GET whose fill started before a
// write's invalidation (RFC 9111 §4.4) and answers after it is not stored
// or served: the version fence drops it, the waiting GET fetches again,
// and no GET after the write is answered from before it.
func TestUnsafeMethodFencesAFillInFlight(t *testing.T) {
	onEachRedis(t, testUnsafeMethodFencesAFillInFlight)
}

func testUnsafeMethodFencesAFillInFlight(t *testing.T, rs *sharedRedis) {
	p := newWritePairOn(t, rs, nil)
	started, release := make(chan struct{}), make(chan struct{})
	var held atomic.Bool
	p.origin.mu.Lock()
	p.origin.hold = func(r *http.Request) {
		if r.URL.Path == "/w/race" && held.CompareAndSwap(false, true) {
			close(started)
			<-release
		}
	}
	p.origin.mu.Unlock()
	type answer struct {
		xcache string
		body   []byte
		err    error
	}
	done := make(chan answer, 1)
	go func() {
		resp, err := p.a.client.Get(p.a.base + "/w/race")
		if err != nil {
			done <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		done <- answer{resp.Header.Get("X-Cache"), b, err}
	}()
	<-started // the fill has read version 0 and waits
	fenced := p.a.srv.current().cache.Stats().Fenced
	write(t, p.a, "POST", "/w/race", 200)
	close(release)
	got := <-done
	if got.err != nil {
		t.Fatal(got.err)
	}
	if r := (reply{status: 200, body: string(got.body)}); r.version(t) != 1 {
		t.Fatalf("the GET in flight during the write was answered from before it: %s %s", got.xcache, got.body)
	}
	p.a.srv.current().cache.Wait()
	for _, h := range []*harness{p.a, p.b} {
		if r := h.raw("GET", "/w/race"); r.version(t) != 1 {
			t.Fatalf("after the write: %s %s", r.header.Get("X-Cache"), r.body)
		}
	}
	if n := p.a.srv.current().cache.Stats().Fenced; n <= fenced {
		t.Fatalf("no fill was fenced (%d)", n)
	}
	if n := p.origin.getsOf("/w/race"); n < 2 {
		t.Fatalf("origin GETs: %d, want the fenced fill and at least one more", n)
	}
}

// grepLines returns the lines of s that contain sub, for failure messages.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n") + " (" + strconv.Itoa(len(out)) + " lines)"
}
