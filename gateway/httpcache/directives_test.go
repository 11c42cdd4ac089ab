package httpcache

import (
	"strings"
	"testing"
	"time"
)

func dirs(lines ...string) Directives {
	var b [][]byte
	for _, l := range lines {
		b = append(b, []byte(l))
	}
	return ParseDirectives(b)
}

// RFC 9111 §5.2: cache-directive = token [ "=" ( token / quoted-string ) ],
// names case-insensitive, a list over every field line (RFC 9110 §5.3).
func TestParseDirectives(t *testing.T) {
	maxAge := func(want time.Duration, invalid bool, lines ...string) {
		t.Helper()
		d := dirs(lines...)
		if !d.MaxAge.Present || d.MaxAge.Invalid != invalid || d.MaxAge.D != want {
			t.Fatalf("%q: max-age %+v, want %v invalid=%v", lines, d.MaxAge, want, invalid)
		}
	}
	maxAge(time.Hour, false, "max-age=3600")
	maxAge(time.Hour, false, "MaX-AgE=3600")
	maxAge(time.Hour, false, `max-age="3600"`)                       // the quoted form is accepted (§5.2)
	maxAge(time.Hour, false, "foobar, max-age=3600")                 // an extension is skipped
	maxAge(time.Second, false, `extension="max-age=100", max-age=1`) // a quoted phrase is no directive
	maxAge(time.Second, false, `max-age=1, extension="max-age=100"`)
	maxAge(time.Second, false, `extension="a\"max-age=100", max-age=1`)
	maxAge(maxDelta, false, "max-age=2147483648") // §1.2.2: beyond 2^31 is 2^31
	maxAge(maxDelta, false, "max-age=99999999999999999999")
	// Invalid freshness information makes the response stale (§4.2.1).
	maxAge(0, true, "max-age='3600'")
	maxAge(0, true, "max-age =100")
	maxAge(0, true, "max-age= 100")
	maxAge(0, true, "max-age=-100")
	maxAge(0, true, "max-age=a100")
	maxAge(0, true, "max-age=100a")
	maxAge(0, true, "max-age=")
	maxAge(0, true, `max-age="100`)
	maxAge(0, true, "max-age=60, max-age=0") // twice, two values (§4.2.1)
	maxAge(0, true, "max-age=60", "max-age=0")
	maxAge(time.Minute, false, "max-age=60", "max-age=60")

	d := dirs("s-maxage=1, max-age=3600", "No-Store", "private, PUBLIC", "proxy-revalidate",
		"stale-while-revalidate=5, stale-if-error=7", `no-cache="Set-Cookie"`)
	if !d.NoStore || !d.Private || !d.Public || !d.MustRevalidate || !d.NoCache ||
		d.SMaxAge.D != time.Second || d.StaleWhileRevalidate.D != 5*time.Second || d.StaleIfError.D != 7*time.Second {
		t.Fatalf("%+v", d)
	}
	if d := dirs(`x="no-store, private"`); d.NoStore || d.Private {
		t.Fatalf("directives inside a quoted string: %+v", d)
	}
	if d := dirs(""); d != (Directives{}) {
		t.Fatalf("empty: %+v", d)
	}
}

// FuzzDirectives: any field value parses without panicking; a lifetime is
// never negative nor beyond 2^31 seconds, and an invalid one is zero; a
// value that is several lines reads as the lines joined with commas.
func FuzzDirectives(f *testing.F) {
	for _, s := range []string{"max-age=60", "no-store", "s-maxage=10, stale-while-revalidate=5", `max-age="7", private`, "max-age=-1", "max-age=99999999999999999999", ",,=,", `a="\"`, "max-age =1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d := dirs(v)
		for _, x := range []Delta{d.MaxAge, d.SMaxAge, d.StaleWhileRevalidate, d.StaleIfError} {
			if x.D < 0 || x.D > maxDelta || (x.Invalid && x.D != 0) || (!x.Present && (x.D != 0 || x.Invalid)) {
				t.Fatalf("%q: %+v", v, x)
			}
		}
		if i := strings.IndexByte(v, '\n'); i < 0 && !strings.Contains(v, `"`) {
			if two := dirs(v, v); two.NoStore != d.NoStore || two.MaxAge != d.MaxAge {
				t.Fatalf("%q twice: %+v, once %+v", v, two, d)
			}
		}
	})
}
