package httpcache

import "testing"

// A user tag never lands in the path tags' namespace; every other tag is
// left as it is.
func TestUserTag(t *testing.T) {
	f := func(tag, want string) {
		t.Helper()
		if got := UserTag(tag); got != want {
			t.Fatalf("UserTag(%q) = %q, want %q", tag, got, want)
		}
	}
	f("item:1", "item:1")
	f("{x", "{x")
	f("{}path:/a", "%7B}path:/a")
	if got := PathTag([]byte("/a/b")); got != "{}path:/a/b" {
		t.Fatalf("PathTag = %q", got)
	}
}
