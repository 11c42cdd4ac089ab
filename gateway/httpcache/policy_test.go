package httpcache

import (
	"testing"
	"time"
)

type want struct {
	pass, store bool
	lifetime    time.Duration
	swr, sie    time.Duration
	negative    bool
}

func TestEvaluate(t *testing.T) {
	p := &Policy{Defaults: Defaults{TTL: 30 * time.Second, NegativeTTL: 5 * time.Second}, MaxBodyBytes: 1 << 20,
		StaleIfError: time.Hour, KeyedHeaders: []string{"Accept-Language"}}
	f := func(p *Policy, status int, w want, lines ...string) {
		t.Helper()
		v := p.Evaluate(response(t, status, lines...), x0)
		got := want{v.Pass, v.Store, v.Freshness.Lifetime, v.StaleWhileRevalidate, v.StaleIfError, v.Negative}
		if !v.Store && !v.Pass {
			got.lifetime, got.swr, got.sie, got.negative = w.lifetime, w.swr, w.sie, w.negative // not compared
		}
		if got != w {
			t.Fatalf("%d %q: %+v, want %+v", status, lines, got, w)
		}
	}
	pass := want{pass: true}
	not := want{}
	// Never shared (RFC 9111 §3, §5.2.2.3, §5.2.2.7; §4.1 Vary; RFC 6265 cookies).
	f(p, 200, pass, "Set-Cookie: a=b", "Cache-Control: max-age=60")
	f(p, 200, pass, "Cache-Control: max-age=60", "Cache-Control: no-store")
	f(p, 200, pass, "Cache-Control: max-age=60", "Cache-Control: private")
	f(p, 200, pass, "Vary: Accept-Encoding", "Vary: X-Foo")
	f(p, 200, pass, "Vary: *")
	f(p, 200, want{store: true, lifetime: 30 * time.Second, sie: time.Hour}, "Vary: accept-language, Accept-Encoding")
	f(&Policy{Private: true, MaxBodyBytes: 10, Defaults: p.Defaults}, 200, want{store: true, lifetime: time.Minute}, "Cache-Control: private, max-age=60")
	// §3: explicit freshness or public makes any final status storable;
	// without, only the heuristically cacheable ones (RFC 9110 §15.1).
	f(p, 200, want{store: true, lifetime: 30 * time.Second, sie: time.Hour})
	f(p, 302, not)
	f(p, 302, want{store: true, lifetime: time.Minute, sie: time.Hour}, "Cache-Control: max-age=60")
	f(p, 302, want{store: true, lifetime: time.Minute, sie: time.Hour}, "Expires: "+date(time.Minute), "Date: "+date(0))
	f(p, 400, want{store: true, lifetime: 30 * time.Second, sie: time.Hour}, "Cache-Control: public")
	f(p, 404, want{store: true, lifetime: 5 * time.Second, sie: time.Hour, negative: true})
	f(p, 404, want{store: true, lifetime: time.Minute, sie: time.Hour, negative: true}, "Cache-Control: max-age=60")
	f(p, 405, want{store: true, lifetime: 5 * time.Second, sie: time.Hour})
	f(p, 501, want{store: true, lifetime: 5 * time.Second, sie: time.Hour})
	// Errors stale-if-error stands in for, partial content, and no-cache
	// (stored only to be revalidated) are not stored.
	f(p, 503, not, "Cache-Control: max-age=60")
	f(p, 206, not, "Cache-Control: max-age=60")
	f(p, 200, not, "Cache-Control: no-cache, max-age=60")
	// Already stale on arrival (Age beyond max-age, max-age=0, an invalid
	// max-age): only its stale windows can still serve it.
	f(&Policy{Defaults: p.Defaults, MaxBodyBytes: 10}, 200, not, "Cache-Control: max-age=10", "Age: 15")
	f(&Policy{Defaults: p.Defaults, MaxBodyBytes: 10}, 200, not, "Cache-Control: max-age=0")
	f(&Policy{Defaults: p.Defaults, MaxBodyBytes: 10}, 200, not, "Cache-Control: max-age=-1")
	f(p, 200, want{store: true, sie: time.Hour}, "Cache-Control: max-age=0")
	// RFC 5861 windows from the response; must-revalidate, proxy-revalidate
	// and s-maxage (which implies proxy-revalidate, §5.2.2.10) forbid
	// serving stale, the route's window included.
	f(p, 200, want{store: true, lifetime: time.Minute, swr: 5 * time.Second, sie: 7 * time.Second}, "Cache-Control: max-age=60, stale-while-revalidate=5, stale-if-error=7")
	f(p, 200, want{store: true, lifetime: time.Minute}, "Cache-Control: max-age=60, stale-if-error=7, must-revalidate")
	f(p, 200, want{store: true, lifetime: time.Minute}, "Cache-Control: max-age=60, proxy-revalidate")
	f(p, 200, want{store: true, lifetime: time.Minute}, "Cache-Control: s-maxage=60")
	// A route that overrides the upstream's lifetimes keeps its own.
	o := &Policy{Defaults: p.Defaults, Override: true, StaleIfError: time.Hour, MaxBodyBytes: 10}
	f(o, 200, want{store: true, lifetime: 30 * time.Second, sie: time.Hour}, "Cache-Control: max-age=1, must-revalidate")
	f(o, 200, pass, "Cache-Control: max-age=60, no-store")
	// Bodies over max_body_bytes are passed on, not stored.
	f(&Policy{Defaults: p.Defaults, MaxBodyBytes: 1}, 200, not)
}

// RFC 9213: the first valid targeted field replaces Cache-Control for
// this cache; an invalid one (not a Structured Field Dictionary, a
// lifetime that is not an Integer) is ignored as a whole.
func TestEvaluateTargetedFields(t *testing.T) {
	p := &Policy{MaxBodyBytes: 1 << 20, TargetedFields: []string{"Tiercel-Cache-Control", "CDN-Cache-Control"}}
	f := func(w want, lines ...string) {
		t.Helper()
		v := p.Evaluate(response(t, 200, lines...), x0)
		got := want{pass: v.Pass, store: v.Store, lifetime: v.Freshness.Lifetime}
		if !v.Store {
			got.lifetime = w.lifetime
		}
		if got != w {
			t.Fatalf("%q: %+v, want %+v", lines, got, w)
		}
	}
	hour := want{store: true, lifetime: time.Hour}
	f(hour, "CDN-Cache-Control: max-age=3600")
	f(hour, "CDN-Cache-Control: max-age=3600", "Cache-Control: no-store")
	f(hour, "CDN-Cache-Control: foobar, max-age=3600")
	f(want{}, "CDN-Cache-Control: max-age=1", "Cache-Control: max-age=3600", "Age: 2")
	f(want{pass: true}, "CDN-Cache-Control: no-store", "Cache-Control: max-age=3600")
	f(want{pass: true}, "CDN-Cache-Control: private", "Cache-Control: max-age=3600")
	f(want{}, "CDN-Cache-Control: no-cache", "Cache-Control: max-age=3600")
	f(want{}, "CDN-Cache-Control: max-age=0", "Expires: "+date(time.Hour), "Date: "+date(0))
	f(hour, "CDN-Cache-Control: max-age=3600", "Expires: 0", "Date: "+date(0))
	f(want{store: true, lifetime: maxDelta}, "CDN-Cache-Control: max-age=99999999999")
	// The first listed field wins; an invalid one passes the turn.
	f(hour, "Tiercel-Cache-Control: max-age=3600", "CDN-Cache-Control: no-store")
	f(hour, "Tiercel-Cache-Control: max-age=\"60\"", "CDN-Cache-Control: max-age=3600")
	// Invalid targeted fields: Cache-Control decides.
	f(want{pass: true}, "CDN-Cache-Control: max-age=10000, &&&&&", "Cache-Control: no-store")
	f(want{pass: true}, `CDN-Cache-Control: max-age="10000"`, "Cache-Control: no-store")
	f(want{pass: true}, "CDN-Cache-Control: MaX-aGe=3600", "Cache-Control: no-store")
	f(want{pass: true}, "CDN-Cache-Control: max-age =100", "Cache-Control: no-store")
	f(want{pass: true}, "CDN-Cache-Control: max-age=-1", "Cache-Control: no-store")
	// Not listed: not obeyed.
	f(want{pass: true}, "Surrogate-Control: max-age=3600", "Cache-Control: no-store")
}

// RFC 9111 §4.3, §5.2.2.4: a response with a validator is kept to be
// revalidated; no-cache is stored only that way, never fresh.
func TestEvaluateKeep(t *testing.T) {
	p := &Policy{Defaults: Defaults{TTL: 30 * time.Second}, MaxBodyBytes: 1 << 20, Keep: time.Hour}
	f := func(wantStore bool, lifetime, keep time.Duration, lines ...string) {
		t.Helper()
		v := p.Evaluate(response(t, 200, lines...), x0)
		if v.Store != wantStore || (v.Store && (v.Freshness.Lifetime != lifetime || v.Keep != keep)) || v.Pass {
			t.Fatalf("%q: %+v", lines, v)
		}
	}
	f(true, 0, time.Hour, "Cache-Control: no-cache, max-age=60", `ETag: "x"`)
	f(true, 0, time.Hour, "Cache-Control: no-cache", "Last-Modified: "+date(-time.Hour))
	f(false, 0, 0, "Cache-Control: no-cache")
	f(true, time.Minute, time.Hour, "Cache-Control: max-age=60", `ETag: "x"`)
	f(true, time.Minute, 0, "Cache-Control: max-age=60")
	f(true, 0, time.Hour, "Cache-Control: max-age=0", `ETag: "x"`) // stale on arrival, revalidatable
	f(false, 0, 0, "Cache-Control: max-age=0")
}
