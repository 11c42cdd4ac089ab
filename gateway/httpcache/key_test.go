package httpcache

import (
	"bytes"
	"testing"

	"github.com/valyala/fasthttp"
)

// Keys differ exactly when the keyed parts do: length prefixes keep a
// value from passing for another part, repeated field lines key as the
// one value they make, and an unkeyed parameter changes nothing.
func TestKeyParts(t *testing.T) {
	key := func(query string, lines ...string) []byte {
		var args fasthttp.Args
		args.Parse(query)
		var h fasthttp.RequestHeader
		for _, l := range lines {
			h.Add("X-H", l)
		}
		k := AppendKey(nil, "r", []byte("/p"))
		k = AppendKeyQuery(k, &args, []string{"a", "b"})
		return AppendKeyHeaders(k, &h, []string{"X-H"})
	}
	f := func(same bool, a, b []byte) {
		t.Helper()
		if bytes.Equal(a, b) != same {
			t.Fatalf("keys equal=%v, want %v:\n%q\n%q", !same, same, a, b)
		}
	}
	f(true, key("a=1&z=2"), key("a=1"))
	f(true, key("a=1&a=2"), key("a=1"))
	f(false, key("a=1&b=2"), key("a=1%26b%3D2"))
	f(false, key("a="), key(""))
	f(true, key("", "x", "y"), key("", "x, y"))
	f(false, key("", "x"), key("", "x", ""))
	anon := AppendKeyAnonymous(key(""))
	f(false, anon, AppendKeyNoClaim(AppendKeyCaller(key(""), "")))
	f(false, AppendKeyClaim(AppendKeyCaller(key(""), "i"), "a", "b"), AppendKeyClaim(AppendKeyCaller(key(""), "i"), "a,b"))
}
