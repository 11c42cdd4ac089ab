package httpcache

import (
	"net/http"
	"testing"
	"time"
)

// RFC 9110 §5.6.7: a recipient accepts the three formats, and nothing
// else counts as an HTTP-date (for Expires, RFC 9111 §5.3, an invalid date
// is already expired).
func TestParseHTTPDate(t *testing.T) {
	want := time.Date(1994, 11, 6, 8, 49, 37, 0, time.UTC)
	f := func(s string, ok bool) {
		t.Helper()
		got, gotOK := ParseHTTPDate([]byte(s))
		if gotOK != ok || (ok && !got.Equal(want)) {
			t.Fatalf("%q: %v %v, want ok=%v", s, got, gotOK, ok)
		}
	}
	f("Sun, 06 Nov 1994 08:49:37 GMT", true)  // IMF-fixdate
	f("Sunday, 06-Nov-94 08:49:37 GMT", true) // rfc850-date
	f("Sun Nov  6 08:49:37 1994", true)       // asctime-date
	for _, bad := range []string{
		"", "0", "-1", "Thu, 18  Aug  2050 02:01:18 GMT", "Thu, 18-Aug-2050 02:01:18 GMT",
		"Thu, 18 Aug 2050 02.01.18 GMT", "Thu, 18 Aug 2050 2:01:18 GMT", "Sun, 06 Nov 1994 08:49:37 UTC",
		"sun, 06 Nov 1994 08:49:37 GMT", "Sun, 06 nov 1994 08:49:37 GMT", "Sun, 31 Feb 1994 08:49:37 GMT",
		"Sun, 06 Nov 1994 24:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 GMT ", " Sun, 06 Nov 1994 08:49:37 GMT",
		"Sunday, 06-Nov-1994 08:49:37 GMT", "Sun Nov 6 08:49:37 1994", "Sun Nov  6 08:49:37 94",
	} {
		f(bad, false)
	}
	// A two-digit year more than 50 years ahead is in the past.
	now := time.Now().UTC().Year()
	yy := (now + 51) % 100
	d, ok := ParseHTTPDate([]byte("Monday, 01-Jan-" + twoDigits(yy) + " 00:00:00 GMT"))
	if !ok || d.Year() != now+51-100 {
		t.Fatalf("rfc850 year %02d: %v %v", yy, d, ok)
	}
}

func twoDigits(n int) string { return string([]byte{byte('0' + n/10), byte('0' + n%10)}) }

// FuzzParseHTTPDate: never panics; a date it accepts, written as an
// IMF-fixdate, reads back as the same instant, and net/http (laxer) reads
// whatever this accepts.
func FuzzParseHTTPDate(f *testing.F) {
	for _, s := range []string{"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994", "0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := ParseHTTPDate([]byte(s))
		if !ok {
			return
		}
		again, ok := ParseHTTPDate([]byte(d.Format(http.TimeFormat)))
		if !ok || !again.Equal(d) {
			t.Fatalf("%q → %v does not round-trip", s, d)
		}
		if _, err := http.ParseTime(s); err != nil {
			t.Fatalf("%q accepted here, refused by net/http: %v", s, err)
		}
	})
}
