//go:build !race

package auth

import (
	"testing"
	"time"
)

// The race detector allocates on its own, hence the build tag.

// TestVerifyCachedAllocatesNothing covers tokens verified with a static key
// and with a JWKS key, whose cache hits also check that the key was not
// revoked (issue 13 item 5: the revocation check must stay free).
func TestVerifyCachedAllocatesNothing(t *testing.T) {
	required := []string{"read"}
	f := func(v *Verifier, tok []byte) {
		t.Helper()
		mustVerify(t, v, string(tok))
		h := bearer(tok)
		n := testing.AllocsPerRun(1000, func() {
			p, err := v.VerifyBearer(h, time.Time{})
			if err != nil || !p.HasScopes(required) {
				t.Fatal("cached verify failed")
			}
		})
		if n != 0 {
			t.Fatalf("VerifyBearer on a cache hit allocates %v times", n)
		}
		if st := v.Stats(); st.Verifications != 1 {
			t.Fatalf("%d verifications, want every VerifyBearer but the first from the cache", st.Verifications)
		}
	}
	f(newTestVerifier(t, hsConfig(), nil), []byte(hsToken(t, time.Now(), map[string]any{"scope": "read write"})))
	k := fixtures()
	srv := newJWKSServer(t, map[string]any{"k1": &k.rsa.PublicKey})
	f(newTestVerifier(t, jwksConfig(srv.URL, nil), nil),
		[]byte(signWith(t, "RS256", "k1", k.rsa, claimsFor(rsIss, time.Now(), map[string]any{"scope": "read write"}))))
}

func TestRejectJunkAllocatesNothing(t *testing.T) {
	cfg := hsConfig()
	cfg.MaxTokenBytes = 64
	v := newTestVerifier(t, cfg, nil)
	for _, junk := range []string{"", "no dots here", "a.b", make65()} {
		b := bearer(junk)
		if n := testing.AllocsPerRun(100, func() { _, _ = v.VerifyBearer(b, time.Time{}) }); n != 0 {
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
		if n := testing.AllocsPerRun(100, func() { _, _ = extractBearer(b) }); n != 0 {
			t.Fatalf("extractBearer(%q) allocates %v times", h, n)
		}
	}
}
