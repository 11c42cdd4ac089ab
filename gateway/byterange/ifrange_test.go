package byterange

import "testing"

func TestIfRange(t *testing.T) {
	const (
		lm     = "Wed, 21 Oct 2015 07:28:00 GMT"
		later  = "Wed, 21 Oct 2015 07:28:01 GMT"
		much   = "Thu, 22 Oct 2015 07:28:00 GMT"
		before = "Wed, 21 Oct 2015 07:27:59 GMT"
	)
	b := func(s string) []byte {
		if s == "" {
			return nil
		}
		return []byte(s)
	}
	f := func(value, etag, lastModified, date string, want bool) {
		t.Helper()
		if got := IfRange(b(value), b(etag), b(lastModified), b(date)); got != want {
			t.Fatalf("IfRange(%q; ETag %q, Last-Modified %q, Date %q) = %v, want %v", value, etag, lastModified, date, got, want)
		}
	}
	// §13.1.5 + §8.8.3.2: an entity-tag holds only by strong comparison.
	f(`"v1"`, `"v1"`, "", "", true)
	f(` "v1" `, `"v1"`, "", "", true) // the field value's OWS
	f(`"v1"`, `"v2"`, "", "", false)
	f(`"v1"`, `W/"v1"`, "", "", false)   // a weak stored tag never matches strongly
	f(`W/"v1"`, `W/"v1"`, "", "", false) // nor a weak If-Range ("MUST NOT generate")
	f(`W/"v1"`, `"v1"`, "", "", false)
	f(`"v1"`, "", lm, later, false) // no ETag to compare with
	f(`"v1`, `"v1`, "", "", false)  // not an entity-tag
	f(`"v"1"`, `"v"1"`, "", "", false)
	f(`"v1", "v2"`, `"v1"`, "", "", false) // If-Range holds one validator, not a list
	f(`""`, `""`, "", "", true)            // the empty opaque-tag is a tag

	// §13.1.5 + §8.8.2.2: an HTTP-date holds only when it is the stored
	// Last-Modified exactly and that is strong: the stored Date is at
	// least one second later.
	f(lm, "", lm, later, true)
	f(lm, "", lm, much, true)
	f(lm, `"v1"`, lm, later, true) // a date is compared to Last-Modified even with an ETag stored
	f(lm, "", lm, lm, false)       // changed twice within that second, perhaps
	f(lm, "", lm, before, false)
	f(lm, "", lm, "", false) // no Date: weak
	f(lm, "", lm, "yesterday", false)
	f(later, "", lm, much, false) // not the same date
	f(lm, "", "", later, false)   // nothing stored to compare with
	// Not an HTTP-date (IMF-fixdate says GMT).
	f("Wed, 21 Oct 2015 07:28:00 UTC", "", "Wed, 21 Oct 2015 07:28:00 UTC", later, false)
	f("", "", "", later, false)
	f("garbage", `"v1"`, lm, later, false)
}
