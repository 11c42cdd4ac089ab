package gateway

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/tiercel/tiercel/gateway/auth"
)

// jwksOrigin serves a JWK Set the test changes, or an error.
type jwksOrigin struct {
	*httptest.Server
	mu     sync.Mutex
	body   []byte
	status int
}

func newJWKSOrigin(t *testing.T) *jwksOrigin {
	j := &jwksOrigin{status: 200}
	j.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		j.mu.Lock()
		defer j.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(j.status)
		_, _ = w.Write(j.body)
	}))
	t.Cleanup(j.Close)
	return j
}

func (j *jwksOrigin) serve(t *testing.T, keys map[string]*rsa.PrivateKey) {
	t.Helper()
	var set jwkset.JWKSMarshal
	for kid, k := range keys {
		jwk, err := jwkset.NewJWKFromKey(&k.PublicKey, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: kid, USE: jwkset.UseSig, ALG: jwkset.AlgRS256}})
		if err != nil {
			t.Fatal(err)
		}
		set.Keys = append(set.Keys, jwk.Marshal())
	}
	body, _ := json.Marshal(set)
	j.mu.Lock()
	j.body, j.status = body, 200
	j.mu.Unlock()
}

func (j *jwksOrigin) fail() {
	j.mu.Lock()
	j.status, j.body = 503, []byte("down")
	j.mu.Unlock()
}

func rsToken(t *testing.T, key *rsa.PrivateKey, kid string) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": "https://rs.test", "aud": "tiercel", "sub": "rs-user", "scope": "products:read",
		"exp": time.Now().Add(time.Hour).Unix(),
	})
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestJWKSIssuerOverSockets runs an RS256 issuer whose keys come from a JWKS
// URL through the whole gateway: a valid token, the HS256-with-the-public-key
// confusion attack, key rotation (an unknown kid triggers one rate-limited
// refetch) and the JWKS endpoint going down while keys are cached.
func TestJWKSIssuerOverSockets(t *testing.T) {
	k1, _ := rsa.GenerateKey(rand.Reader, 2048)
	k2, _ := rsa.GenerateKey(rand.Reader, 2048)
	js := newJWKSOrigin(t)
	js.serve(t, map[string]*rsa.PrivateKey{"k1": k1})
	h := newHarness(t, func(c *Config) {
		c.Auth.Issuers = append(c.Auth.Issuers, auth.IssuerConfig{
			Name: "rs", Issuer: "https://rs.test", Audiences: []string{"tiercel"}, Algorithms: []string{"RS256"},
			JWKSURL: js.URL, JWKSRefresh: time.Hour, JWKSUnknownKIDInterval: 50 * time.Millisecond,
		})
	})
	if r := h.get("/api/products/1", rsToken(t, k1, "k1")); r.status != 200 {
		t.Fatalf("RS256 token: %d %s", r.status, r.body)
	}

	// Algorithm confusion: HS256 "signed" with the RSA public key's PEM.
	pub, _ := x509.MarshalPKIXPublicKey(&k1.PublicKey)
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})
	forged := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": "https://rs.test", "aud": "tiercel", "sub": "mallory", "scope": "products:read", "exp": time.Now().Add(time.Hour).Unix()})
	forged.Header["kid"] = "k1"
	fs, _ := forged.SignedString(pemBytes)
	if r := h.get("/api/products/1", fs); r.status != 401 || r.err.Code != "algorithm" {
		t.Fatalf("HS256 with the RSA public key: %d %q", r.status, r.err.Code)
	}

	// Rotation: the issuer starts signing with k2; the JWKS now lists both.
	js.serve(t, map[string]*rsa.PrivateKey{"k1": k1, "k2": k2})
	eventually(t, 5*time.Second, "the rotated key to be fetched", func() bool {
		return h.get("/api/products/1", rsToken(t, k2, "k2")).status == 200
	})

	// JWKS down: cached keys keep working; /readyz says the issuer is degraded.
	js.fail()
	if r := h.get("/api/products/1", rsToken(t, k2, "k2")); r.status != 200 {
		t.Fatalf("with the JWKS down, a known key: %d", r.status)
	}
	k3, _ := rsa.GenerateKey(rand.Reader, 2048)
	eventually(t, 5*time.Second, "an unknown kid to be refused while the JWKS is down", func() bool {
		r := h.get("/api/products/1", rsToken(t, k3, "k3"))
		return r.status == 401 && r.err.Code == "unknown_kid"
	})
	// Unknown kids trigger (rate-limited) refetches; one of them fails and
	// readyz must say so.
	eventually(t, 5*time.Second, "readyz to report the JWKS failure", func() bool {
		h.get("/api/products/1", rsToken(t, k3, "k3"))
		return h.srv.Readiness(context.Background()).Checks["jwks:rs"].Status == "degraded"
	})
}
