package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestVerifyAlgorithms(t *testing.T) {
	k := fixtures()
	f := func(alg string, signer any) {
		t.Helper()
		ic := IssuerConfig{
			Issuer:     "https://" + strings.ToLower(alg) + ".example",
			Algorithms: []string{alg},
		}
		if b, ok := signer.([]byte); ok {
			ic.Keys = []KeyConfig{{KID: "k1", Secret: string(b)}}
		} else {
			ic.Keys = []KeyConfig{{KID: "k1", PEMFile: writePEM(t, signer)}}
		}
		v := newTestVerifier(t, Config{Issuers: []IssuerConfig{ic}}, nil)
		tok, err := Sign(ic, claimsFor(ic.Issuer, time.Now(), jwt.MapClaims{"tenant": "t1", "plan": "pro", "scope": "read write"}))
		if err != nil {
			t.Fatalf("%s: cannot sign: %v", alg, err)
		}
		p, err := v.VerifyBearer(bearer(tok), time.Time{})
		if err != nil {
			t.Fatalf("%s: unexpected error: %v", alg, err)
		}
		if p.Issuer != ic.Issuer || p.Subject != "user-1" || p.Tenant != "t1" || p.Plan != "pro" || !p.HasScopes([]string{"read", "write"}) {
			t.Fatalf("%s: unexpected principal %+v", alg, p)
		}
		if d := time.Until(p.ExpiresAt); d < 59*time.Minute || d > time.Hour {
			t.Fatalf("%s: unexpected ExpiresAt %v", alg, p.ExpiresAt)
		}
	}
	f("HS256", []byte(testSecret))
	f("HS384", []byte(testSecret+testSecret))
	f("HS512", []byte(testSecret+testSecret))
	f("RS256", k.rsa)
	f("RS384", k.rsa)
	f("RS512", k.rsa)
	f("PS256", k.rsa)
	f("PS384", k.rsa)
	f("PS512", k.rsa)
	f("ES256", k.p256)
	f("ES384", k.p384)
	f("ES512", k.p521)
	f("EdDSA", k.ed)
}

// rejectFixture is a verifier with several issuers, used to check that each
// kind of bad token is rejected for the right Reason.
type rejectFixture struct {
	v       *Verifier
	clock   *fakeClock
	rsPEM   []byte
	otherEC *ecdsa.PrivateKey
}

const (
	hsIss    = "https://hs.example"
	rsIss    = "https://rs.example"
	mixedIss = "https://mixed.example"
	multiIss = "https://multi.example"
)

func newRejectFixture(t *testing.T) *rejectFixture {
	k := fixtures()
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsPath := writePEM(t, &k.rsa.PublicKey)
	cfg := Config{
		MaxTokenBytes: 2048,
		Issuers: []IssuerConfig{
			{Issuer: hsIss, Algorithms: []string{"HS256"}, Keys: []KeyConfig{{KID: "h1", Secret: testSecret}}},
			{Issuer: rsIss, Audiences: []string{"api", "admin"}, Algorithms: []string{"RS256"}, Keys: []KeyConfig{{KID: "r1", PEMFile: rsPath}}},
			{Issuer: mixedIss, Algorithms: []string{"RS256", "ES256"}, Keys: []KeyConfig{
				{KID: "r1", PEMFile: writePEM(t, &k.rsa2.PublicKey)},
				{KID: "e1", PEMFile: writePEM(t, &k.p256.PublicKey)},
			}},
			{Issuer: multiIss, Algorithms: []string{"ES256", "EdDSA"}, Keys: []KeyConfig{
				{KID: "e1", PEMFile: writePEM(t, &k.p256.PublicKey)},
				{KID: "e2", PEMFile: writePEM(t, &other.PublicKey)},
				{PEMFile: writePEM(t, k.ed.Public())},
			}},
		},
	}
	clock := newFakeClock()
	rsPEM, err := os.ReadFile(rsPath)
	if err != nil {
		t.Fatal(err)
	}
	return &rejectFixture{v: newTestVerifier(t, cfg, clock.Now), clock: clock, rsPEM: rsPEM, otherEC: other}
}

func TestVerifyRejects(t *testing.T) {
	k := fixtures()
	fx := newRejectFixture(t)
	now := fx.clock.Now()
	hs := func(extra jwt.MapClaims) string {
		return signWith(t, "HS256", "h1", []byte(testSecret), claimsFor(hsIss, now, extra))
	}
	rs := func(alg, kid string, extra jwt.MapClaims) string {
		return signWith(t, alg, kid, k.rsa, mergeClaims(claimsFor(rsIss, now, jwt.MapClaims{"aud": "api"}), extra))
	}
	f := func(name, token string, want Reason) {
		t.Helper()
		p, err := fx.v.VerifyBearer(bearer(token), time.Time{})
		got, ok := reasonOf(err)
		if !ok || got != want || p != nil {
			t.Fatalf("%s: got (%v, %v), want reason %s", name, p, err, want)
		}
	}
	ok := func(name, token string) {
		t.Helper()
		if _, err := fx.v.VerifyBearer(bearer(token), time.Time{}); err != nil {
			t.Fatalf("%s: unexpected error: %v", name, err)
		}
	}

	ok("hs256", hs(nil))
	ok("rs256 with audience", rs("RS256", "r1", nil))
	ok("audience in array", rs("RS256", "r1", jwt.MapClaims{"aud": []string{"other", "admin"}}))
	ok("expired within leeway", hs(jwt.MapClaims{"exp": now.Add(-10 * time.Second).Unix()}))
	ok("kid-less with one key for the alg", signWith(t, "EdDSA", "", k.ed, claimsFor(multiIss, now, nil)))
	ok("kid picks among keys", signWith(t, "ES256", "e2", fx.otherEC, claimsFor(multiIss, now, nil)))

	f("empty", "", ReasonMalformed) // "Bearer " and nothing: an empty header is missing (TestExtractBearer)
	f("garbage", "not a token", ReasonMalformed)
	f("two segments", "eyJhbGciOiJIUzI1NiJ9.e30", ReasonMalformed)
	f("bad base64 json", "eyJhbGciOi.eyJpc3Mi.sig", ReasonMalformed)
	f("oversized", hs(jwt.MapClaims{"pad": strings.Repeat("x", 2048)}), ReasonTooLarge)

	tampered := hs(nil)
	tampered = tampered[:len(tampered)-4] + "AAAA"
	f("tampered signature", tampered, ReasonBadSignature)
	f("signed with another secret", signWith(t, "HS256", "h1", []byte(testSecret+"x"), claimsFor(hsIss, now, nil)), ReasonBadSignature)
	f("signed with another RSA key", signWith(t, "RS256", "r1", k.rsa2, claimsFor(rsIss, now, jwt.MapClaims{"aud": "api"})), ReasonBadSignature)

	f("alg none", unsignedToken(t, map[string]any{"alg": "none", "typ": "JWT"}, claimsFor(hsIss, now, nil), ""), ReasonAlgorithm)
	f("alg none with kid", unsignedToken(t, map[string]any{"alg": "none", "kid": "h1"}, claimsFor(hsIss, now, nil), ""), ReasonAlgorithm)
	f("alg unknown", unsignedToken(t, map[string]any{"alg": "HS999"}, claimsFor(hsIss, now, nil), "c2ln"), ReasonAlgorithm)
	f("alg missing", unsignedToken(t, map[string]any{"typ": "JWT"}, claimsFor(hsIss, now, nil), "c2ln"), ReasonMalformed)
	// The classic confusion attack: HS256 keyed with the RSA public key's PEM.
	f("algorithm confusion", signWith(t, "HS256", "r1", fx.rsPEM, claimsFor(rsIss, now, jwt.MapClaims{"aud": "api"})), ReasonAlgorithm)
	f("alg not in allow-list", rs("RS384", "r1", nil), ReasonAlgorithm)
	f("PS256 for an RS256 issuer", rs("PS256", "r1", nil), ReasonAlgorithm)
	f("kid of a key of another type", signWith(t, "ES256", "r1", k.p256, claimsFor(mixedIss, now, nil)), ReasonAlgorithm)
	f("HS256 for another issuer's alg", signWith(t, "HS256", "h1", []byte(testSecret), claimsFor(rsIss, now, jwt.MapClaims{"aud": "api"})), ReasonAlgorithm)

	f("expired", hs(jwt.MapClaims{"exp": now.Add(-time.Minute).Unix()}), ReasonExpired)
	f("not yet valid", hs(jwt.MapClaims{"nbf": now.Add(time.Minute).Unix()}), ReasonNotYetValid)
	f("iat in the future", hs(jwt.MapClaims{"iat": now.Add(time.Minute).Unix()}), ReasonNotYetValid)
	f("exp missing", hs(jwt.MapClaims{"exp": nil}), ReasonMalformed)
	f("exp not a number", hs(jwt.MapClaims{"exp": "tomorrow"}), ReasonMalformed)

	f("wrong issuer", signWith(t, "HS256", "h1", []byte(testSecret), claimsFor(hsIss+"/", now, nil)), ReasonIssuer)
	f("unknown issuer", signWith(t, "HS256", "h1", []byte(testSecret), claimsFor("https://evil.example", now, nil)), ReasonIssuer)
	f("issuer missing", hs(jwt.MapClaims{"iss": nil}), ReasonIssuer)
	f("issuer not a string", hs(jwt.MapClaims{"iss": 42}), ReasonMalformed)

	f("wrong audience", rs("RS256", "r1", jwt.MapClaims{"aud": "billing"}), ReasonAudience)
	f("audience missing", rs("RS256", "r1", jwt.MapClaims{"aud": nil}), ReasonAudience)

	f("unknown kid", signWith(t, "HS256", "h9", []byte(testSecret), claimsFor(hsIss, now, nil)), ReasonUnknownKID)
	f("kid-less with several keys for the alg", signWith(t, "ES256", "", k.p256, claimsFor(multiIss, now, nil)), ReasonUnknownKID)
	f("kid not a string", unsignedToken(t, map[string]any{"alg": "HS256", "kid": 7}, claimsFor(hsIss, now, nil), "c2ln"), ReasonMalformed)
	f("crit header", unsignedToken(t, map[string]any{"alg": "HS256", "kid": "h1", "crit": []string{"exp"}}, claimsFor(hsIss, now, nil), "c2ln"), ReasonMalformed)
	f("tenant not a string", hs(jwt.MapClaims{"tenant": 7}), ReasonMalformed)
	f("scope not strings", hs(jwt.MapClaims{"scope": []any{"a", 1}}), ReasonMalformed)

	// Rejected tokens are never cached, nor is the one past its exp.
	if n := fx.v.Stats().CacheEntries; n != 5 {
		t.Fatalf("cache holds %d entries, want the 5 valid unexpired tokens", n)
	}
}

func TestVerifyBearer(t *testing.T) {
	v := newTestVerifier(t, hsConfig(), nil)
	tok := hsToken(t, time.Now(), nil)
	ok := func(hdr string) {
		t.Helper()
		if _, err := v.VerifyBearer([]byte(hdr), time.Now().Add(time.Second)); err != nil {
			t.Fatalf("%q: %v", hdr, err)
		}
	}
	bad := func(hdr string, want Reason) {
		t.Helper()
		_, err := v.VerifyBearer([]byte(hdr), time.Now().Add(time.Second))
		if r, isErr := reasonOf(err); !isErr || r != want {
			t.Fatalf("%q: got %v, want %s", hdr, err, want)
		}
	}
	// Checked in full before it is cached, and from the cache after.
	for range 2 {
		ok("Bearer " + tok)
		ok("bearer   " + tok)
	}
	bad("", ReasonMissing)
	bad("Basic "+tok, ReasonMalformed)
	bad("Bearer ", ReasonMalformed)
	// Not cached: the b64token check still applies, before any parsing.
	bad("Bearer "+tok+"!", ReasonMalformed)
	bad("Bearer "+tok[:len(tok)-1]+" ", ReasonMalformed)
	if st := v.Stats(); st.Verifications != 1 {
		t.Errorf("Verifications = %d, want 1: the rejected headers never reach the parser", st.Verifications)
	}
}
