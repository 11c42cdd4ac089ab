package auth

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The uncached benchmarks set CacheTTL to 1ns, so that every Verify finds an
// expired entry and verifies the signature again: the full miss path, without
// signing b.N tokens up front. Compare them with BenchmarkVerifyCached: the
// gap is what the cache saves per request.

func BenchmarkVerifyCached(b *testing.B) {
	v := newTestVerifier(b, hsConfig(), nil)
	tok := bearer(hsToken(b, time.Now(), jwt.MapClaims{"scope": "read write", "tenant": "t1"}))
	if _, err := v.VerifyBearer(tok, time.Time{}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.VerifyBearer(tok, time.Time{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func benchmarkUncached(b *testing.B, alg string, signer any) {
	ic := IssuerConfig{Issuer: "https://bench.example", Algorithms: []string{alg}}
	if s, ok := signer.([]byte); ok {
		ic.Keys = []KeyConfig{{KID: "k1", Secret: string(s)}}
	} else {
		ic.Keys = []KeyConfig{{KID: "k1", PEMFile: writePEM(b, signer)}}
	}
	v := newTestVerifier(b, Config{CacheTTL: time.Nanosecond, Issuers: []IssuerConfig{ic}}, nil)
	tok := bearer(signWith(b, alg, "k1", signer, claimsFor(ic.Issuer, time.Now(), jwt.MapClaims{"scope": "read write"})))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.VerifyBearer(tok, time.Time{}); err != nil {
			b.Fatal(err)
		}
	}
	if st := v.Stats(); st.CacheHits != 0 {
		b.Fatalf("%d cache hits in an uncached benchmark", st.CacheHits)
	}
}

func BenchmarkVerifyHS256Uncached(b *testing.B) { benchmarkUncached(b, "HS256", []byte(testSecret)) }
func BenchmarkVerifyRS256Uncached(b *testing.B) { benchmarkUncached(b, "RS256", fixtures().rsa) }
func BenchmarkVerifyES256Uncached(b *testing.B) { benchmarkUncached(b, "ES256", fixtures().p256) }

func BenchmarkExtractBearer(b *testing.B) {
	h := []byte("Bearer " + hsToken(b, time.Now(), nil))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := extractBearer(h); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBaselineJWTParseHS256 is bare jwt/v5 on the token of
// BenchmarkVerifyHS256Uncached: the difference is this package's overhead.
func BenchmarkBaselineJWTParseHS256(b *testing.B) {
	tok := signWith(b, "HS256", "k1", []byte(testSecret), claimsFor("https://bench.example", time.Now(), jwt.MapClaims{"scope": "read write"}))
	p := jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(), jwt.WithIssuedAt())
	key := []byte(testSecret)
	keyfunc := func(*jwt.Token) (any, error) { return key, nil }
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Parse(tok, keyfunc); err != nil {
			b.Fatal(err)
		}
	}
}
