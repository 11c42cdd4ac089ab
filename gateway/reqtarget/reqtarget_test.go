package reqtarget

import (
	"bytes"
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	f := func(target, wantPath, wantQuery string, wantErr error) {
		t.Helper()
		path, query, _, err := Options{}.Parse(nil, []byte(target))
		if !errors.Is(err, wantErr) {
			t.Fatalf("%q: error %v, want %v", target, err, wantErr)
		}
		if err == nil && (string(path) != wantPath || string(query) != wantQuery) {
			t.Fatalf("%q: path %q query %q, want %q %q", target, path, query, wantPath, wantQuery)
		}
	}
	// Already normal.
	f("/api/products/1", "/api/products/1", "", nil)
	f("/api/products/1?b=2&a=1", "/api/products/1", "b=2&a=1", nil)
	f("/", "/", "", nil)
	f("/a/", "/a/", "", nil)
	f("/.well-known/jwks.json", "/.well-known/jwks.json", "", nil)
	f("/a/.../b", "/a/.../b", "", nil)
	f("/a/b.c/d.", "/a/b.c/d.", "", nil)
	f("/a?x=/../y//z", "/a", "x=/../y//z", nil) // the query is not a path
	f("/a?", "/a", "", nil)
	// Merged slashes: the bypass. "//pub" is never an authority.
	f("//pub/api/secret/1", "/pub/api/secret/1", "", nil)
	f("//api/shared/p63", "/api/shared/p63", "", nil)
	f("/a//b///c", "/a/b/c", "", nil)
	f("/a//", "/a/", "", nil)
	// Dot segments (RFC 3986 §5.2.4), never above the root.
	f("//x/../pub/a", "/pub/a", "", nil)
	f("/a/./b", "/a/b", "", nil)
	f("/a/b/..", "/a/", "", nil)
	f("/a/b/.", "/a/b/", "", nil)
	f("/..", "/", "", nil)
	f("/../../etc/passwd", "/etc/passwd", "", nil)
	f("/pub/../api/secret", "/api/secret", "", nil)
	f("/a/%2e%2E/b", "/b", "", nil)
	f("/a/.%2e/b", "/b", "", nil)
	// Percent-encoding (RFC 3986 §6.2.2.1, §6.2.2.2).
	f("/%41%62%7e", "/Ab~", "", nil)
	f("/a%3bb", "/a%3Bb", "", nil)
	f("/caf%c3%a9", "/caf%C3%A9", "", nil)
	f("/café", "/caf%C3%A9", "", nil)
	f("/a\"<>^`{|}[]", "/a%22%3C%3E%5E%60%7B%7C%7D%5B%5D", "", nil)
	f("/a b", "/a%20b", "", nil)
	f("/a%20b", "/a%20b", "", nil)
	f("/%00", "/%00", "", nil)
	// Absolute form: the authority is dropped, the path is what follows.
	f("http://example.test/a//b?q=1", "/a/b", "q=1", nil)
	f("HTTPS://example.test", "/", "", nil)
	f("http://example.test?q", "/", "q", nil)
	// Refused.
	f("", "", "", ErrBadTarget)
	f("*", "", "", ErrBadTarget)
	f("example.test:443", "", "", ErrBadTarget)
	f("ftp://x/a", "", "", ErrBadTarget)
	f("/a#frag", "", "", ErrBadTarget)
	f("/a?x#frag", "", "", ErrBadTarget)
	f("/a\x00b", "", "", ErrBadTarget)
	f("/a\x7f", "", "", ErrBadTarget)
	f("/a?b=\r\n", "", "", ErrBadTarget)
	f("/a%", "", "", ErrBadEscape)
	f("/a%4", "", "", ErrBadEscape)
	f("/a%zz", "", "", ErrBadEscape)
	f("/a%2Fb", "", "", ErrEscapedSlash)
	f("/a%2f..%2fb", "", "", ErrEscapedSlash)
	f("/a%5Cb", "", "", ErrEscapedSlash)
	f(`/a\..\b`, "", "", ErrEscapedSlash)
	f("/pub/..;/api/secret", "", "", ErrDotParam)
	f("/pub/.;x/api", "", "", ErrDotParam)
	f("/pub/%2e%2e;/api", "", "", ErrDotParam)
}

func TestParseKeepEscapedSlashes(t *testing.T) {
	o := Options{KeepEscapedSlashes: true}
	for target, want := range map[string]string{
		"/repos/a%2fb/issues": "/repos/a%2Fb/issues",
		`/a\b`:                "/a%5Cb",
		"/a%5cb":              "/a%5Cb",
		"/x/..%2F..%2Fy":      "/x/..%2F..%2Fy", // one segment, not a dot segment
	} {
		path, _, _, err := o.Parse(nil, []byte(target))
		if err != nil || string(path) != want {
			t.Errorf("%q: %q %v, want %q", target, path, err, want)
		}
	}
}

// A target already in normal form is returned as a view of it: the common
// case copies nothing.
func TestParseNormalIsAView(t *testing.T) {
	target := []byte("/api/products/1?x=1")
	path, _, _, err := Options{}.Parse(nil, target)
	if err != nil || &path[0] != &target[0] {
		t.Fatalf("not a view: %q %v", path, err)
	}
}

// reference computes the normal form another way, decoded, from net/url
// and the RFC's algorithm as Go implements it (URL.ResolveReference removes
// dot segments), for paths without '%' and '\\' (the escape rules are
// tested above).
func reference(p string) string {
	for strings.Contains(p, "//") {
		p = strings.ReplaceAll(p, "//", "/")
	}
	base, _ := url.Parse("http://h/")
	return base.ResolveReference(&url.URL{Path: p}).Path
}

// FuzzParse: the normal form is a fixed point (parsing it again changes
// nothing), has no empty or dot segment and no byte a path may not hold,
// and agrees with net/url's dot-segment removal.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"/a/b", "//pub/x", "/a/../b", "/%2e%2E/", "/a%2Fb", "/x?y#z", "/..;/a", "http://h//a", "/café/./x", "/a/b/..", "/.well-known/x"} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, target string, keep bool) {
		o := Options{KeepEscapedSlashes: keep}
		path, query, _, err := o.Parse(nil, []byte(target))
		if err != nil {
			return
		}
		again, q2, _, err := o.Parse(nil, append(append(append([]byte(nil), path...), '?'), query...))
		if err != nil || !bytes.Equal(again, path) || !bytes.Equal(q2, query) {
			t.Fatalf("%q → %q is not a fixed point: %q %v", target, path, again, err)
		}
		if !o.isNormal(path) {
			t.Fatalf("%q → %q is not normal", target, path)
		}
		if len(path) == 0 || path[0] != '/' || bytes.Contains(path, []byte("//")) {
			t.Fatalf("%q → %q", target, path)
		}
		for _, seg := range bytes.Split(path[1:], []byte("/")) {
			if s := string(seg); s == "." || s == ".." {
				t.Fatalf("%q → %q keeps a dot segment", target, path)
			}
		}
		p, _, _ := split([]byte(target))
		if raw := string(p); raw != "" && !strings.ContainsAny(raw, "%\\") && validUTF8Printable(raw) {
			decoded, err := url.PathUnescape(string(path))
			if want := reference(raw); err != nil || want != decoded {
				t.Fatalf("%q: normal form %q, net/url's %q", target, path, want)
			}
		}
	})
}

// validUTF8Printable keeps the reference comparison to paths net/url
// escapes the way the normal form does: ASCII pchars only.
func validUTF8Printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if classes[s[i]] != classRaw {
			return false
		}
	}
	return true
}
