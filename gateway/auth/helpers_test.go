package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// testKeys are generated once per test binary: RSA generation is slow.
type testKeys struct {
	rsa, rsa2, rsa3 *rsa.PrivateKey
	rsaWeak         *rsa.PrivateKey
	p256, p384      *ecdsa.PrivateKey
	p521            *ecdsa.PrivateKey
	ed              ed25519.PrivateKey
}

var fixtures = sync.OnceValue(func() *testKeys {
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	k := &testKeys{}
	var err error
	for _, p := range []**rsa.PrivateKey{&k.rsa, &k.rsa2, &k.rsa3} {
		*p, err = rsa.GenerateKey(rand.Reader, 2048)
		must(err)
	}
	k.rsaWeak, err = rsa.GenerateKey(rand.Reader, 1024)
	must(err)
	k.p256, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	k.p384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	must(err)
	k.p521, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	must(err)
	_, k.ed, err = ed25519.GenerateKey(rand.Reader)
	must(err)
	return k
})

const testSecret = "0123456789abcdef0123456789abcdef" // 32 bytes

// writePEM writes key as PKCS8 (private) or PKIX (public) PEM.
func writePEM(t testing.TB, key any) string {
	t.Helper()
	var block *pem.Block
	if der, err := x509.MarshalPKCS8PrivateKey(key); err == nil {
		block = &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	} else {
		der, err := x509.MarshalPKIXPublicKey(key)
		if err != nil {
			t.Fatal(err)
		}
		block = &pem.Block{Type: "PUBLIC KEY", Bytes: der}
	}
	return writeFile(t, "key.pem", pem.EncodeToMemory(block))
}

func writeFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// signWith signs claims with jwt directly, independent of Sign, so tests can
// forge whatever header they need.
func signWith(t testing.TB, alg, kid string, key any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(alg), claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// unsignedToken builds a token by hand, for headers jwt refuses to sign.
func unsignedToken(t testing.TB, header map[string]any, claims jwt.MapClaims, sig string) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(header) + "." + enc(claims) + "." + sig
}

// fakeClock is the Verifier's now in tests that must cross exp or CacheTTL.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func newTestVerifier(t testing.TB, cfg Config, now func() time.Time) *Verifier {
	t.Helper()
	v, err := newVerifier(cfg, nil, now)
	if err != nil {
		t.Fatalf("cannot create verifier: %v", err)
	}
	t.Cleanup(v.Close)
	return v
}

// claimsFor returns valid claims for iss at now, with extra merged in.
func claimsFor(iss string, now time.Time, extra jwt.MapClaims) jwt.MapClaims {
	c := jwt.MapClaims{
		"iss": iss,
		"sub": "user-1",
		"iat": now.Unix(),
		"exp": now.Add(time.Hour).Unix(),
	}
	return mergeClaims(c, extra)
}

// mergeClaims sets extra's claims in c; a nil value deletes the claim.
func mergeClaims(c, extra jwt.MapClaims) jwt.MapClaims {
	for k, v := range extra {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	return c
}

func reasonOf(err error) (Reason, bool) {
	var e *Error
	if !errors.As(err, &e) {
		return 0, false
	}
	return e.Reason, true
}

// jwksServer is a real loopback JWKS endpoint whose keys and health the test
// controls, and which counts the fetches it serves.
type jwksServer struct {
	*httptest.Server
	hits atomic.Int64

	mu     sync.Mutex
	body   []byte
	status int
}

func newJWKSServer(t testing.TB, keys map[string]any) *jwksServer {
	t.Helper()
	s := &jwksServer{status: http.StatusOK}
	s.setKeys(t, keys)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		status, body := s.status, s.body
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) setKeys(t testing.TB, keys map[string]any) {
	t.Helper()
	var set jwkset.JWKSMarshal
	for kid, k := range keys {
		jwk, err := jwkset.NewJWKFromKey(k, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: kid, USE: jwkset.UseSig}})
		if err != nil {
			t.Fatal(err)
		}
		set.Keys = append(set.Keys, jwk.Marshal())
	}
	body, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	s.setBody(http.StatusOK, body)
}

func (s *jwksServer) setBody(status int, body []byte) {
	s.mu.Lock()
	s.status, s.body = status, body
	s.mu.Unlock()
}

// writeJWKFile writes keys (kid → key) as a JWK Set file.
func writeJWKFile(t testing.TB, keys map[string]any) string {
	t.Helper()
	s := &jwksServer{}
	s.setKeys(t, keys)
	return writeFile(t, "keys.json", s.body)
}

// httptestServer serves h until the test ends and returns its URL. Close
// runs after the test's own cleanups, so a handler blocked on a gate the
// test closes has returned by then.
func httptestServer(t testing.TB, h http.HandlerFunc) string {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s.URL
}

// bearer is the Authorization header value carrying token.
func bearer[T []byte | string](token T) []byte {
	return append([]byte("Bearer "), token...)
}
