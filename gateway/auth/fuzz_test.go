package auth

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func FuzzExtractBearer(f *testing.F) {
	for _, s := range []string{"Bearer abc.def.ghi", "bearer  x", "Basic a", "", "Bearer ", "Bearer a=="} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, header []byte) {
		tok, err := extractBearer(header)
		if err != nil {
			if _, ok := reasonOf(err); !ok || tok != nil {
				t.Fatalf("got (%q, %v)", tok, err)
			}
			return
		}
		if len(tok) == 0 || !isB64Token(tok) {
			t.Fatalf("accepted %q from %q", tok, header)
		}
		if n := len(header) - len(tok); n < len("Bearer ") || &header[n] != &tok[0] {
			t.Fatalf("%q is not a suffix sub-slice of %q", tok, header)
		}
	})
}

// fuzzEpoch is the fixed time of the fuzz verifier's clock, so that the
// corpus' HS256 tokens (HMAC is deterministic) stay valid.
var fuzzEpoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func fuzzSeedToken(t testing.TB) string {
	return signWith(t, "HS256", "h1", []byte(testSecret), jwt.MapClaims{
		"iss": hsIss, "sub": "fuzz", "scope": "a b", "iat": fuzzEpoch.Unix(), "exp": fuzzEpoch.Add(time.Hour).Unix(),
	})
}

func FuzzVerify(f *testing.F) {
	k := fixtures()
	cfg := Config{Issuers: []IssuerConfig{
		{Issuer: hsIss, Algorithms: []string{"HS256"}, Keys: []KeyConfig{{KID: "h1", Secret: testSecret}}},
		{Issuer: rsIss, Algorithms: []string{"RS256", "ES256"}, Keys: []KeyConfig{
			{KID: "r1", PEMFile: writePEM(f, &k.rsa.PublicKey)},
			{KID: "e1", PEMFile: writePEM(f, &k.p256.PublicKey)},
		}},
	}}
	v := newTestVerifier(f, cfg, func() time.Time { return fuzzEpoch })
	seed := fuzzSeedToken(f)
	if _, err := v.VerifyBearer(bearer(seed), time.Time{}); err != nil {
		f.Fatalf("seed token does not verify: %v", err)
	}
	f.Add([]byte(seed))
	f.Add([]byte(unsignedToken(f, map[string]any{"alg": "none"}, jwt.MapClaims{"iss": hsIss}, "")))
	f.Add([]byte(signWith(f, "ES256", "e1", k.p256, claimsFor(rsIss, fuzzEpoch, nil))))
	f.Add([]byte("a.b.c"))
	f.Fuzz(func(t *testing.T, token []byte) {
		p, err := v.VerifyBearer(bearer(token), time.Time{})
		if err != nil {
			r, ok := reasonOf(err)
			if !ok || p != nil || r >= numReasons {
				t.Fatalf("got (%v, %v)", p, err)
			}
			return
		}
		if p == nil || p.Issuer == "" {
			t.Fatalf("verified %q into %+v", token, p)
		}
		if again, err := v.VerifyBearer(bearer(token), time.Time{}); err != nil || again != p {
			t.Fatalf("second Verify of a valid token: (%v, %v)", again, err)
		}
	})
}
