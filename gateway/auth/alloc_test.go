//go:build !race

package auth

import (
	"testing"
	"time"
)

// The race detector allocates on its own, hence the build tag.

func TestVerifyCachedAllocatesNothing(t *testing.T) {
	v := newTestVerifier(t, hsConfig(), nil)
	tok := []byte(hsToken(t, time.Now(), map[string]any{"scope": "read write"}))
	mustVerify(t, v, string(tok))
	required := []string{"read"}
	n := testing.AllocsPerRun(1000, func() {
		p, err := v.Verify(tok)
		if err != nil || !p.HasScopes(required) {
			t.Fatal("cached verify failed")
		}
	})
	if n != 0 {
		t.Fatalf("Verify on a cache hit allocates %v times", n)
	}
}

func TestRejectJunkAllocatesNothing(t *testing.T) {
	cfg := hsConfig()
	cfg.MaxTokenBytes = 64
	v := newTestVerifier(t, cfg, nil)
	for _, junk := range []string{"", "no dots here", "a.b", make65()} {
		b := []byte(junk)
		if n := testing.AllocsPerRun(100, func() { _, _ = v.Verify(b) }); n != 0 {
			t.Fatalf("rejecting %q allocates %v times", junk, n)
		}
	}
}

func make65() string {
	b := make([]byte, 65)
	for i := range b {
		b[i] = 'a'
	}
	return string(b)
}

func TestExtractBearerAllocatesNothing(t *testing.T) {
	for _, h := range []string{"Bearer abc.def.ghi", "", "Basic x", "Bearer a b"} {
		b := []byte(h)
		if n := testing.AllocsPerRun(100, func() { _, _ = ExtractBearer(b) }); n != 0 {
			t.Fatalf("ExtractBearer(%q) allocates %v times", h, n)
		}
	}
}
