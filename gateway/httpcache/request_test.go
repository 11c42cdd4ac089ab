package httpcache

import (
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// RFC 9111 §5.2.1 request directives, §5.4 Pragma.
func TestRequestDirectives(t *testing.T) {
	parse := func(cc, pragma []string) RequestDirectives {
		var c, p [][]byte
		for _, l := range cc {
			c = append(c, []byte(l))
		}
		for _, l := range pragma {
			p = append(p, []byte(l))
		}
		return ParseRequestDirectives(c, p)
	}
	gen, fresh := t0.Add(-10*time.Second), t0.Add(50*time.Second) // age 10s, 50s of freshness left
	f := func(cc, pragma []string, now time.Time, want bool) {
		t.Helper()
		d := parse(cc, pragma)
		if got := d.Acceptable(now, gen, fresh); got != want {
			t.Fatalf("%q %q at %v: acceptable %v, want %v (%+v)", cc, pragma, now.Sub(t0), got, want, d)
		}
	}
	f(nil, nil, t0, true)
	f([]string{"no-cache"}, nil, t0, false)
	f(nil, []string{"no-cache"}, t0, false)                   // §5.4
	f([]string{"max-age=60"}, []string{"no-cache"}, t0, true) // Pragma only without Cache-Control
	f([]string{"max-age=10"}, nil, t0, true)
	f([]string{"max-age=9"}, nil, t0, false)
	f([]string{"MAX-AGE=0"}, nil, t0, false)
	f([]string{"min-fresh=50"}, nil, t0, true)
	f([]string{"min-fresh=51"}, nil, t0, false)
	f([]string{"max-age=abc"}, nil, t0, true) // invalid: ignored
	stale := t0.Add(60 * time.Second)         // 10s past freshness
	f(nil, nil, stale, false)
	f([]string{"max-stale"}, nil, stale, true)
	f([]string{"max-stale=10"}, nil, stale, true)
	f([]string{"max-stale=9"}, nil, stale, false)
	d := parse([]string{"no-store", "only-if-cached"}, nil)
	if !d.NoStore || !d.OnlyIfCached || !d.Any() || parse(nil, nil).Any() {
		t.Fatalf("%+v", d)
	}
}

// RequestDirectivesOf: nil when the request asks nothing of the cache
// (no field, or only directives a cache ignores), every Cache-Control line
// read, Pragma only without Cache-Control.
func TestRequestDirectivesOf(t *testing.T) {
	f := func(want *RequestDirectives, fields ...string) {
		t.Helper()
		var h fasthttp.RequestHeader
		for i := 0; i < len(fields); i += 2 {
			h.Add(fields[i], fields[i+1])
		}
		got := RequestDirectivesOf(&h)
		if (got == nil) != (want == nil) || got != nil && *got != *want {
			t.Fatalf("%q: got %+v, want %+v", fields, got, want)
		}
	}
	f(nil)
	f(nil, "Cache-Control", "no-transform")
	f(&RequestDirectives{NoCache: true}, "Pragma", "no-cache")
	f(&RequestDirectives{NoStore: true, OnlyIfCached: true}, "Cache-Control", "no-store", "Cache-Control", "only-if-cached")
	f(&RequestDirectives{MaxAge: Delta{Present: true, D: 5 * time.Second}}, "Cache-Control", "max-age=5", "Pragma", "no-cache")
}
