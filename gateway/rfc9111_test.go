package gateway

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The gateway as a plain shared cache (one catch-all route, every method,
// auth none, the upstream's Cache-Control honoured), tested against the
// RFC text with a net/http origin whose answers each test scripts. Each
// test names the sections it checks.

// plainCache starts a gateway whose only route caches everything, with
// ttl (nil: the default) and mutate applied to the route, in front of an
// echo origin whose answers respond scripts by path.
func plainCache(t *testing.T, ttlValue *time.Duration, mutate func(*RouteConfig)) (*harness, *echoOrigin) {
	t.Helper()
	o := startEchoOrigin(t)
	h := startReplica(t, o.addr(), func(c *Config) {
		r := RouteConfig{Name: "all", Path: "/{rest...}", Methods: []string{"*"}, Upstream: "origin",
			Auth: RouteAuth{Mode: "none"}, Cache: RouteCache{Enabled: true, TTL: ttlValue}}
		if mutate != nil {
			mutate(&r)
		}
		c.Routes = []RouteConfig{r}
	})
	return h, o
}

// scripted makes the origin answer each path with its header lines
// (values may use %d for a per-request counter) and a body naming the
// request number.
func scripted(o *echoOrigin, answers map[string][]string) *atomic.Int64 {
	var n atomic.Int64
	o.setRespond(func(w http.ResponseWriter, r *http.Request) bool {
		lines, ok := answers[r.URL.Path]
		if !ok {
			return false
		}
		i := n.Add(1)
		status := http.StatusOK
		for _, l := range lines {
			k, v, _ := strings.Cut(l, ": ")
			if k == "Status" {
				status, _ = strconv.Atoi(v)
				continue
			}
			if strings.Contains(v, "%d") {
				v = fmt.Sprintf(v, i)
			}
			w.Header().Add(k, v)
		}
		w.WriteHeader(status)
		fmt.Fprintf(w, "answer %d", i)
		return true
	})
	return &n
}

// twice gets path twice (waiting for the cache in between) and reports
// whether the second answer came from the cache.
func twice(t *testing.T, h *harness, path string) (first, second reply, cached bool) {
	t.Helper()
	first = h.raw("GET", path)
	h.srv.current().cache.Wait()
	second = h.raw("GET", path)
	return first, second, second.body == first.body && strings.HasPrefix(second.header.Get("X-Cache"), "HIT")
}

func httpDate(d time.Duration) string { return time.Now().Add(d).UTC().Format(http.TimeFormat) }

// RFC 9111 §4.2.1 (lifetimes), §4.2.3 (age), §5.1 (Age), §5.3 (Expires),
// §1.2.2 (delta-seconds) and RFC 9110 §6.6.1 (Date): which responses a
// second request is served from the cache, on a route whose default ttl
// is 0, so that only what the origin marks cacheable is.
func TestRFC9111Freshness(t *testing.T) {
	h, o := plainCache(t, ttl(0), nil)
	cases := []struct {
		path   string
		lines  []string
		cached bool
	}{
		{"/none", nil, false}, // §4.2.2: no default lifetime on this route
		{"/max-age", []string{"Cache-Control: max-age=3600"}, true},
		{"/max-age-quoted", []string{`Cache-Control: max-age="3600"`}, true},
		{"/max-age-max", []string{"Cache-Control: max-age=99999999999"}, true}, // §1.2.2: 2^31
		{"/max-age-0", []string{"Cache-Control: max-age=0"}, false},
		{"/max-age-single-quoted", []string{"Cache-Control: max-age='3600'"}, false}, // invalid: stale (§4.2.1)
		{"/max-age-negative", []string{"Cache-Control: max-age=-100"}, false},
		{"/max-age-space", []string{"Cache-Control: max-age =100"}, false},
		{"/max-age-in-quotes", []string{`Cache-Control: extension="max-age=100", max-age=0`}, false},
		{"/max-age-twice", []string{"Cache-Control: max-age=3600", "Cache-Control: max-age=0"}, false},
		{"/age-beyond", []string{"Cache-Control: max-age=10", "Age: 15"}, false}, // §4.2.3
		{"/age-invalid", []string{"Cache-Control: max-age=3600", "Age: abc"}, true},
		{"/age-first-member", []string{"Cache-Control: max-age=3600", "Age: 7200, 0"}, false}, // §5.1
		{"/s-maxage", []string{"Cache-Control: s-maxage=3600"}, true},
		{"/s-maxage-wins", []string{"Cache-Control: max-age=3600, s-maxage=0"}, false}, // §5.2.2.10
		{"/expires", []string{"Expires: " + httpDate(time.Hour)}, true},
		{"/expires-0", []string{"Expires: 0"}, false}, // §5.3: invalid means expired
		{"/expires-past", []string{"Expires: " + httpDate(-time.Hour)}, false},
		{"/expires-bad-format", []string{"Expires: " + strings.Replace(httpDate(time.Hour), " ", "  ", 1)}, false},
		{"/expires-max-age-0", []string{"Expires: " + httpDate(time.Hour), "Cache-Control: max-age=0"}, false},
		{"/expires-age", []string{"Expires: " + httpDate(10*time.Second), "Age: 25"}, false},
		{"/public", []string{"Cache-Control: public"}, false}, // storable, but no lifetime here
	}
	answers := map[string][]string{}
	for _, c := range cases {
		answers[c.path] = c.lines
	}
	scripted(o, answers)
	for _, c := range cases {
		if _, second, cached := twice(t, h, c.path); cached != c.cached {
			t.Errorf("%s %q: second request served from the cache: %v (X-Cache %q)", c.path, c.lines, cached, second.header.Get("X-Cache"))
		}
	}
}

// RFC 9111 §4.2.2: a route's ttl is its heuristic lifetime for responses
// the origin gave none, by default for the heuristically cacheable
// statuses; last_modified_fraction takes a share of the time since
// Last-Modified instead.
func TestRFC9111HeuristicFreshness(t *testing.T) {
	h, o := plainCache(t, nil, func(r *RouteConfig) { r.Cache.NegativeTTL = 0 })
	scripted(o, map[string][]string{
		"/ok":           nil,
		"/found":        {"Status: 302", "Location: /ok"},
		"/missing":      {"Status: 404"},
		"/missing-max":  {"Status: 404", "Cache-Control: max-age=60"}, // explicit: stored without negative_ttl
		"/redirect-max": {"Status: 302", "Location: /ok", "Cache-Control: max-age=60"},
		"/error-max":    {"Status: 500", "Cache-Control: max-age=60"}, // never stored: stale-if-error's business
	})
	for path, want := range map[string]bool{"/ok": true, "/found": false, "/missing": false,
		"/missing-max": true, "/redirect-max": true, "/error-max": false} {
		if _, second, cached := twice(t, h, path); cached != want {
			t.Errorf("%s: cached %v, want %v (%q)", path, cached, want, second.header.Get("X-Cache"))
		}
	}

	lm, o2 := plainCache(t, ttl(0), func(r *RouteConfig) {
		r.Cache.LastModifiedFraction = 0.1
		r.Cache.HeuristicMax = time.Hour
	})
	scripted(o2, map[string][]string{
		"/old":    {"Last-Modified: " + httpDate(-100*time.Hour)}, // 10% of 100h, capped at 1h
		"/recent": {"Last-Modified: " + httpDate(-5*time.Second)}, // 0.5s: stale at once
	})
	if _, second, cached := twice(t, lm, "/old"); !cached || second.header.Get("Cache-Status") == "" ||
		!strings.Contains(second.header.Get("Cache-Status"), "ttl=3599") && !strings.Contains(second.header.Get("Cache-Status"), "ttl=3600") {
		t.Errorf("/old: cached %v, Cache-Status %q", cached, second.header.Get("Cache-Status"))
	}
}

// RFC 9111 §4.2.3, §5.1: the Age a cache sends counts the age the
// response already had; RFC 9110 §6.6.1: the origin's Date is passed on,
// not replaced by the cache's clock, and one is added when it sent none.
func TestCacheKeepsOriginDate(t *testing.T) {
	h, o := plainCache(t, nil, nil)
	past := httpDate(-10 * time.Minute)
	scripted(o, map[string][]string{"/aged": {"Cache-Control: max-age=3600", "Age: 30", "Date: " + past}})
	first, second, cached := twice(t, h, "/aged")
	if !cached {
		t.Fatalf("not cached: %q", second.header.Get("X-Cache"))
	}
	for _, r := range []reply{first, second} {
		if got := r.header.Values("Date"); len(got) != 1 || got[0] != past {
			t.Fatalf("%s: Date %q, want the origin's %q", r.header.Get("X-Cache"), got, past)
		}
		if age, _ := strconv.Atoi(r.header.Get("Age")); age < 30 || age > 40 {
			t.Fatalf("%s: Age %q, want the origin's 30 and the time since", r.header.Get("X-Cache"), r.header.Get("Age"))
		}
	}

	// An origin without Date (net/http always sends one: hijack).
	o.setRespond(func(w http.ResponseWriter, r *http.Request) bool {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return false
		}
		defer conn.Close()
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nCache-Control: max-age=3600\r\nContent-Length: 2\r\n\r\nok")
		_ = buf.Flush()
		return true
	})
	first = h.raw("GET", "/dateless")
	arrived, err := http.ParseTime(first.header.Get("Date"))
	if err != nil || time.Since(arrived) > 5*time.Second {
		t.Fatalf("no Date from the origin: the cache sent %q", first.header.Get("Date"))
	}
	h.srv.current().cache.Wait()
	time.Sleep(1100 * time.Millisecond) // the next second: a cache's own clock would show it
	if again := h.rawHit("GET", "/dateless"); again.header.Get("Date") != first.header.Get("Date") {
		t.Fatalf("Date changed from %q to %q on a hit", first.header.Get("Date"), again.header.Get("Date"))
	}
}

// RFC 9111 §5.2.2.2 (must-revalidate), §5.2.2.8 (proxy-revalidate),
// §5.2.2.10 (s-maxage implies proxy-revalidate): a response carrying them
// is never served stale, not even inside the route's stale_if_error.
func TestRFC9111NoStaleWhenRevalidationRequired(t *testing.T) {
	h, o := plainCache(t, nil, func(r *RouteConfig) {
		r.Cache.StaleIfError = time.Hour
		r.Timeout = 300 * time.Millisecond
	})
	var failing atomic.Bool
	answers := map[string][]string{
		"/free":  {"Cache-Control: max-age=1"},
		"/must":  {"Cache-Control: max-age=1, must-revalidate"},
		"/proxy": {"Cache-Control: max-age=1, proxy-revalidate"},
		"/smax":  {"Cache-Control: s-maxage=1"},
	}
	scripted(o, answers)
	inner := o.respond
	o.setRespond(func(w http.ResponseWriter, r *http.Request) bool {
		if failing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return inner(w, r)
	})
	for path := range answers {
		h.raw("GET", path)
	}
	h.srv.current().cache.Wait()
	time.Sleep(1100 * time.Millisecond) // every entry is now stale
	failing.Store(true)
	for path := range answers {
		r := h.raw("GET", path)
		stale := r.header.Get("X-Cache") == "STALE"
		if want := path == "/free"; stale != want {
			t.Errorf("%s: served stale %v, want %v (%d %q)", path, stale, want, r.status, r.header.Get("X-Cache"))
		}
	}
}

// RFC 9213: CDN-Cache-Control (and a name of the route's own, listed
// first) is obeyed instead of Cache-Control, and not passed on.
func TestTargetedCacheControl(t *testing.T) {
	h, o := plainCache(t, ttl(0), func(r *RouteConfig) {
		r.Cache.TargetedFields = []string{"Tiercel-Cache-Control", "CDN-Cache-Control"}
	})
	scripted(o, map[string][]string{
		"/cdn-long":   {"Cache-Control: no-store", "CDN-Cache-Control: max-age=3600"},
		"/cdn-short":  {"Cache-Control: max-age=3600", "CDN-Cache-Control: max-age=0"},
		"/own-first":  {"Tiercel-Cache-Control: max-age=3600", "CDN-Cache-Control: no-store"},
		"/cdn-broken": {"Cache-Control: no-store", `CDN-Cache-Control: max-age="3600"`},
	})
	for path, want := range map[string]bool{"/cdn-long": true, "/cdn-short": false, "/own-first": true, "/cdn-broken": false} {
		first, second, cached := twice(t, h, path)
		if cached != want {
			t.Errorf("%s: cached %v, want %v (%q)", path, cached, want, second.header.Get("X-Cache"))
		}
		for _, r := range []reply{first, second} {
			if v := r.header.Get("CDN-Cache-Control") + r.header.Get("Tiercel-Cache-Control"); v != "" {
				t.Errorf("%s: a targeted field was passed on: %q", path, v)
			}
		}
	}
}

// RFC 9111 §5.2.1 (request directives) and §5.4 (Pragma): honoured on a
// route with request_directives: honor, ignored by default.
func TestRFC9111RequestDirectives(t *testing.T) {
	h, o := plainCache(t, nil, func(r *RouteConfig) {
		r.Cache.RequestDirectives = "honor"
		r.Cache.StaleIfError = time.Hour
	})
	scripted(o, map[string][]string{"/r": {"Cache-Control: max-age=2"}})
	base := h.raw("GET", "/r")
	h.srv.current().cache.Wait()
	h.rawHit("GET", "/r")
	o.requests()
	fromCache := func(what string, r reply, want bool) {
		t.Helper()
		origin := len(o.requests()) > 0
		if cached := r.body == base.body && !origin; cached != want {
			t.Fatalf("%s: from the cache %v, want %v (%d %q)", what, cached, want, r.status, r.header.Get("X-Cache"))
		}
	}
	fromCache("no directive", h.raw("GET", "/r"), true)
	fromCache("no-cache", h.raw("GET", "/r", "Cache-Control: no-cache"), false)
	fromCache("Pragma: no-cache", h.raw("GET", "/r", "Pragma: no-cache"), false)
	fromCache("Pragma beside Cache-Control", h.raw("GET", "/r", "Pragma: no-cache", "Cache-Control: max-age=60"), true)
	fromCache("max-age=0", h.raw("GET", "/r", "Cache-Control: max-age=0"), false)
	fromCache("max-age=60", h.raw("GET", "/r", "Cache-Control: max-age=60"), true)
	fromCache("min-fresh=60", h.raw("GET", "/r", "Cache-Control: min-fresh=60"), false)
	fromCache("no-store, stored one fresh", h.raw("GET", "/r", "Cache-Control: no-store"), true)
	if r := h.raw("GET", "/r", "Cache-Control: only-if-cached"); r.status != 200 || len(o.requests()) != 0 {
		t.Fatalf("only-if-cached, cached: %d", r.status)
	}
	if r := h.raw("GET", "/never-stored", "Cache-Control: only-if-cached"); r.status != 504 || r.err.Code != "not_cached" || len(o.requests()) != 0 {
		t.Fatalf("only-if-cached, not cached: %d %q", r.status, r.body)
	}
	time.Sleep(2100 * time.Millisecond) // stale now, inside stale_if_error
	fromCache("max-stale", h.raw("GET", "/r", "Cache-Control: max-stale"), true)
	fromCache("max-stale=60", h.raw("GET", "/r", "Cache-Control: max-stale=60"), true)

	ignoring, o2 := plainCache(t, nil, nil)
	scripted(o2, map[string][]string{"/r": {"Cache-Control: max-age=60"}})
	ignoring.raw("GET", "/r")
	ignoring.srv.current().cache.Wait()
	ignoring.rawHit("GET", "/r")
	o2.requests()
	for _, cc := range []string{"no-cache", "max-age=0", "no-store"} {
		if r := ignoring.raw("GET", "/r", "Cache-Control: "+cc); !strings.HasPrefix(r.header.Get("X-Cache"), "HIT") || len(o2.requests()) != 0 {
			t.Fatalf("ignored %s reached the origin: %q", cc, r.header.Get("X-Cache"))
		}
	}
}

// validatingOrigin answers /v with version's body and ETag, and 304 to a
// request whose If-None-Match (or If-Modified-Since) names the current
// version; cc is its Cache-Control, extra is added to its 304s.
type validatingOrigin struct {
	version     atomic.Int64
	cc          atomic.Value
	extra       atomic.Value
	conditional atomic.Int64 // conditional requests received
	full        atomic.Int64 // full answers sent
	noETag      atomic.Bool  // validate by Last-Modified only
}

func newValidatingOrigin(o *echoOrigin, cc string) *validatingOrigin {
	v := &validatingOrigin{}
	v.version.Store(1)
	v.cc.Store(cc)
	v.extra.Store("")
	lm := time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
	o.setRespond(func(w http.ResponseWriter, r *http.Request) bool {
		etag := fmt.Sprintf(`"v%d"`, v.version.Load())
		w.Header().Set("Cache-Control", v.cc.Load().(string))
		if inm, ims := r.Header.Get("If-None-Match"), r.Header.Get("If-Modified-Since"); inm != "" || ims != "" {
			v.conditional.Add(1)
			if inm == etag || (inm == "" && ims == lm && v.version.Load() == 1) {
				if x := v.extra.Load().(string); x != "" {
					k, val, _ := strings.Cut(x, ": ")
					w.Header().Set(k, val)
				}
				w.WriteHeader(http.StatusNotModified)
				return true
			}
		}
		v.full.Add(1)
		if !v.noETag.Load() {
			w.Header().Set("ETag", etag)
		}
		w.Header().Set("Last-Modified", lm)
		fmt.Fprintf(w, "body of %s", etag)
		return true
	})
	return v
}

// RFC 9111 §4.3.1 (conditional requests from stored validators), §4.3.3
// and §4.3.4 (a 304 updates the stored response's header fields and
// freshness; the stored body is kept), in both tiers.
func TestRFC9111Revalidation(t *testing.T) {
	onEachRedis(t, testRFC9111Revalidation)
}

func testRFC9111Revalidation(t *testing.T, rs *sharedRedis) {
	p := newSecPairOn(t, rs, func(c *Config) {
		c.Routes = append(c.Routes, RouteConfig{Name: "v", Path: "/v", Upstream: "origin", Auth: RouteAuth{Mode: "none"},
			Cache: RouteCache{Enabled: true, TTL: ttl(0)}})
		// settleL2 fails on a dropped L2 write, and a fill whose generation
		// read missed the default 5ms is not written. On a cluster that read
		// reaches up to three masters, each dialled on first use: with -race
		// on two cores it missed 5ms now and then.
		c.Cache.L2Timeout = time.Second
	})
	v := newValidatingOrigin(p.origin, "max-age=1")
	first := p.a.raw("GET", "/v")
	if first.header.Get("X-Cache") != "MISS" || first.body != `body of "v1"` {
		t.Fatalf("first: %q %q", first.header.Get("X-Cache"), first.body)
	}
	p.settleL2(t)
	time.Sleep(1100 * time.Millisecond) // stale now
	v.cc.Store("max-age=60")
	v.extra.Store("X-Updated: by-304")
	r := p.a.raw("GET", "/v")
	if r.header.Get("X-Cache") != "REVALIDATED" || r.body != first.body || r.header.Get("X-Updated") != "by-304" ||
		r.header.Get("Cache-Control") != "max-age=60" || r.header.Get("Etag") != `"v1"` {
		t.Fatalf("revalidation: %q %q X-Updated=%q CC=%q", r.header.Get("X-Cache"), r.body, r.header.Get("X-Updated"), r.header.Get("Cache-Control"))
	}
	if !strings.Contains(r.header.Get("Cache-Status"), "fwd-status=304") || v.conditional.Load() != 1 || v.full.Load() != 1 {
		t.Fatalf("Cache-Status %q, conditional %d, full %d", r.header.Get("Cache-Status"), v.conditional.Load(), v.full.Load())
	}
	// The renewed entry, updated headers and all, in L1 and in L2.
	p.settleL2(t)
	for _, h := range p.replicas() {
		r := h.rawHit("GET", "/v")
		if r.body != first.body || r.header.Get("X-Updated") != "by-304" || v.full.Load() != 1 {
			t.Fatalf("after the 304: %q %q %q", r.header.Get("X-Cache"), r.body, r.header.Get("X-Updated"))
		}
	}
}

// RFC 9111 §5.2.2.4: a no-cache response is stored, but every reuse is
// revalidated first; without a validator it is not stored at all.
func TestRFC9111NoCacheRevalidatesEveryReuse(t *testing.T) {
	h, o := plainCache(t, nil, nil)
	v := newValidatingOrigin(o, "no-cache")
	first := h.raw("GET", "/v")
	h.srv.current().cache.Wait()
	for i := range 3 {
		r := h.raw("GET", "/v")
		if r.header.Get("X-Cache") != "REVALIDATED" || r.body != first.body {
			t.Fatalf("reuse %d: %q %q", i, r.header.Get("X-Cache"), r.body)
		}
		h.srv.current().cache.Wait()
	}
	if v.conditional.Load() != 3 || v.full.Load() != 1 {
		t.Fatalf("conditional %d, full %d", v.conditional.Load(), v.full.Load())
	}
	// A changed representation: the conditional request gets the new one,
	// which replaces the stored one.
	v.version.Store(2)
	if r := h.raw("GET", "/v"); r.header.Get("X-Cache") != "MISS" || r.body != `body of "v2"` {
		t.Fatalf("after a change: %q %q", r.header.Get("X-Cache"), r.body)
	}
	h.srv.current().cache.Wait()
	if r := h.raw("GET", "/v"); r.header.Get("X-Cache") != "REVALIDATED" || r.body != `body of "v2"` {
		t.Fatalf("the new one, revalidated: %q %q", r.header.Get("X-Cache"), r.body)
	}
	scripted(o, map[string][]string{"/nv": {"Cache-Control: no-cache"}})
	if _, second, cached := twice(t, h, "/nv"); cached || second.header.Get("X-Cache") != "MISS" {
		t.Fatalf("no-cache without a validator was reused: %q", second.header.Get("X-Cache"))
	}
}

// RFC 9111 §4.3.1 with Last-Modified alone: the conditional request
// carries If-Modified-Since (RFC 9110 §13.1.3).
func TestRFC9111RevalidationByLastModified(t *testing.T) {
	h, o := plainCache(t, nil, nil)
	v := newValidatingOrigin(o, "no-cache")
	v.noETag.Store(true)
	first := h.raw("GET", "/lm")
	h.srv.current().cache.Wait()
	if r := h.raw("GET", "/lm"); r.header.Get("X-Cache") != "REVALIDATED" || r.body != first.body || v.conditional.Load() != 1 {
		t.Fatalf("Last-Modified: %q, conditional %d", r.header.Get("X-Cache"), v.conditional.Load())
	}
}

// Cached answers keep the client's connection open (RFC 9112 §9.3): a
// stored header parsed without its Content-Length was once marked
// "delimited by close", and every HIT closed the connection.
func TestCachedAnswersKeepTheConnection(t *testing.T) {
	h, o := plainCache(t, nil, nil)
	scripted(o, map[string][]string{"/ka": {"Cache-Control: max-age=60"}})
	h.raw("GET", "/ka")
	h.srv.current().cache.Wait()
	conn, err := net.Dial("tcp", h.srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	for i := range 3 {
		if _, err := io.WriteString(conn, "GET /ka HTTP/1.1\r\nHost: g\r\n\r\n"); err != nil {
			t.Fatalf("request %d on the same connection: %v", i, err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.Close || resp.Header.Get("Connection") == "close" || resp.ContentLength != int64(len(body)) {
			t.Fatalf("answer %d (%s): close=%v Connection=%q Content-Length %d for %d bytes", i, resp.Header.Get("X-Cache"),
				resp.Close, resp.Header.Get("Connection"), resp.ContentLength, len(body))
		}
	}
}
