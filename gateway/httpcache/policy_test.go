package httpcache

import (
	"testing"
	"time"
)

func TestEvaluate(t *testing.T) {
	p := &Policy{Defaults: Defaults{TTL: 30 * time.Second, NegativeTTL: 5 * time.Second}, MaxBodyBytes: 1 << 20,
		StaleIfError: time.Hour, KeyedHeaders: []string{"Accept-Language"}}
	type want struct {
		pass, store bool
		lifetime    time.Duration
		swr, sie    time.Duration
		negative    bool
	}
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
