package auth

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

func TestSign(t *testing.T) {
	k := fixtures()
	now := time.Now()

	// The first key that can sign, with the first algorithm that fits it.
	ic := IssuerConfig{
		Issuer:     rsIss,
		Algorithms: []string{"ES256", "PS256", "RS256"},
		Keys: []KeyConfig{
			{KID: "pub", PEMFile: writePEM(t, &k.p256.PublicKey)},
			{KID: "priv", PEMFile: writePEM(t, k.rsa)},
		},
	}
	claims := jwt.MapClaims{"sub": "s", "exp": now.Add(time.Minute).Unix()}
	tok, err := Sign(ic, claims)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := claims["iss"]; ok {
		t.Fatal("Sign modified the caller's claims")
	}
	parsed, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Header["alg"] != "PS256" || parsed.Header["kid"] != "priv" {
		t.Fatalf("unexpected header %v", parsed.Header)
	}
	if iss, _ := parsed.Claims.GetIssuer(); iss != rsIss {
		t.Fatalf("got iss %q, want %q", iss, rsIss)
	}

	// A private JWK file signs, and verifies against its public half.
	jwk, err := jwkset.NewJWKFromKey(k.ed, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: "ed1"}, Marshal: jwkset.JWKMarshalOptions{Private: true}})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(jwk.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	ed := IssuerConfig{Issuer: "https://ed.example", Algorithms: []string{"EdDSA"}, Keys: []KeyConfig{{JWKFile: writeFile(t, "ed.json", raw)}}}
	tok, err = Sign(ed, claimsFor(ed.Issuer, now, nil))
	if err != nil {
		t.Fatal(err)
	}
	v := newTestVerifier(t, Config{Issuers: []IssuerConfig{ed}}, nil)
	mustVerify(t, v, tok)

	f := func(ic IssuerConfig, want string) {
		t.Helper()
		if _, err := Sign(ic, nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("got %v, want an error containing %q", err, want)
		}
	}
	f(IssuerConfig{Issuer: rsIss, Algorithms: []string{"RS256"}, Keys: []KeyConfig{{PEMFile: writePEM(t, &k.rsa.PublicKey)}}}, "no key that can sign")
	f(IssuerConfig{Issuer: rsIss, Algorithms: []string{"none"}}, `"none" is never allowed`)
	f(IssuerConfig{Issuer: rsIss, Algorithms: []string{"ES384"}, Keys: []KeyConfig{{PEMFile: writePEM(t, k.p256)}}}, "no key that can sign")
}
