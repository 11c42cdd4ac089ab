package httpcache

import (
	"bytes"
	"strings"
	"testing"

	"github.com/tiercel/tiercel/gateway/reqtarget"
)

// TestSameOriginPath: the Location and Content-Location values whose URI
// an unsafe request's answer invalidates, RFC 9111 §4.4 ("only if the host
// part is the same"): relative references resolved against the request
// path (RFC 3986 §5.2), absolute and network-path references of the
// request's Host, in the path's normal form.
func TestSameOriginPath(t *testing.T) {
	f := func(value, host, base, want string) {
		t.Helper()
		got, ok := SameOriginPath([]byte(value), []byte(host), []byte(base), reqtarget.Options{})
		if want == "" {
			if ok {
				t.Fatalf("%q (Host %q, path %q): got %q, want another origin", value, host, base, got)
			}
			return
		}
		if !ok || string(got) != want {
			t.Fatalf("%q (Host %q, path %q): got %q %v, want %q", value, host, base, got, ok, want)
		}
	}
	const h = "gateway.test"
	// Relative references.
	f("/y", h, "/x", "/y")
	f("y", h, "/a/b", "/a/y")
	f("../y/./z", h, "/a/b/c", "/a/y/z")
	f("../../../y", h, "/a/b", "/y")
	f("?page=2", h, "/a/b", "/a/b")
	f("#top", h, "/a/b", "/a/b")
	f("/y?q=1#f", h, "/x", "/y")
	f("/a//b/%7e/caf%c3%a9", h, "/x", "/a/b/~/caf%C3%A9")
	f("/a b", h, "/x", "/a%20b")
	// Absolute URIs of the request's origin: host case-insensitive, a
	// missing port is the scheme's default, the scheme is not compared.
	f("http://gateway.test/z", h, "/x", "/z")
	f("HTTPS://Gateway.TEST/z", h, "/x", "/z")
	f("http://gateway.test", h, "/x", "/")
	f("http://gateway.test:80/z", h, "/x", "/z")
	f("https://gateway.test:443/z", h, "/x", "/z")
	f("http://gateway.test:8080/z", "gateway.test:8080", "/x", "/z")
	f("http://gateway.test/z", "gateway.test:80", "/x", "/z")
	f("//gateway.test/z", h, "/x", "/z")
	f("http://user@gateway.test/z", h, "/x", "/z")
	f("http://[::1]:8080/v6", "[::1]:8080", "/x", "/v6")
	f("http://gateway.test/a/../b", h, "/x", "/b")
	// Other origins, and values that are not a URI of this gateway.
	f("http://other.example/y", h, "/x", "")
	f("//other.example/y", h, "/x", "")
	f("http://gateway.test.other.example/y", h, "/x", "")
	f("http://gateway.test:8080/z", h, "/x", "")
	f("http://gateway.test/z", "gateway.test:8080", "/x", "")
	f("http://gateway.test:443/z", h, "/x", "")
	f("http://[::1]:8081/v6", "[::1]:8080", "/x", "")
	f("//gateway.test:80/z", h, "/x", "") // the request's scheme, and so its default port, is unknown
	f("http:///z", h, "/x", "")
	f("http://gateway.test/z", "", "/x", "")
	f("ftp://gateway.test/z", h, "/x", "")
	f("mailto:ops@gateway.test", h, "/x", "")
	f("http:opaque", h, "/x", "")
	f("/a%zz", h, "/x", "")
	f("/a%2Fb", h, "/x", "") // refused as a request path too (escaped_slashes: reject)
	f("/a\x00b", h, "/x", "")
}

// FuzzSameOriginPath: whatever an upstream puts in Location, the path
// returned is in normal form (a GET of it is routed and keyed on exactly
// it), and a value naming no host stays on the request's origin.
func FuzzSameOriginPath(f *testing.F) {
	for _, v := range []string{"/y", "y", "../../y", "?q", "http://gateway.test/z", "//gateway.test:80/z",
		"http://other.example/", "/a/%2e%2e/b", "http://[::1]/", "/a%20b;c", "%", "http://gateway.test:x/"} {
		f.Add(v, "/a/b")
	}
	f.Fuzz(func(t *testing.T, value, base string) {
		b, _, _, err := reqtarget.Options{}.Parse(nil, []byte("/"+strings.TrimLeft(base, "/")))
		if err != nil {
			return
		}
		base = string(b)
		got, ok := SameOriginPath([]byte(value), []byte("gateway.test"), b, reqtarget.Options{})
		if !ok {
			return
		}
		again, _, _, err := reqtarget.Options{}.Parse(nil, got)
		if err != nil || !bytes.Equal(again, got) {
			t.Fatalf("%q against %q: %q is not in normal form (%q, %v)", value, base, got, again, err)
		}
	})
}
