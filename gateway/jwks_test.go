package gateway

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/tiercel/tiercel/gateway/auth"
	"github.com/tiercel/tiercel/internal/testwait"
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

// serve answers the public halves of keys; none answers {"keys":[]}.
func (j *jwksOrigin) serve(t *testing.T, keys map[string]*rsa.PrivateKey) {
	t.Helper()
	set := jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{}}
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
	testwait.For(t, 5*time.Second, "the rotated key to be fetched", func() bool {
		return h.get("/api/products/1", rsToken(t, k2, "k2")).status == 200
	})

	// JWKS down: cached keys keep working; /readyz says the issuer is degraded.
	js.fail()
	if r := h.get("/api/products/1", rsToken(t, k2, "k2")); r.status != 200 {
		t.Fatalf("with the JWKS down, a known key: %d", r.status)
	}
	k3, _ := rsa.GenerateKey(rand.Reader, 2048)
	testwait.For(t, 5*time.Second, "an unknown kid to be refused while the JWKS is down", func() bool {
		r := h.get("/api/products/1", rsToken(t, k3, "k3"))
		return r.status == 401 && r.err.Code == "unknown_kid"
	})
	// Unknown kids trigger (rate-limited) refetches; one of them fails and
	// readyz must say so.
	testwait.For(t, 5*time.Second, "readyz to report the JWKS failure", func() bool {
		h.get("/api/products/1", rsToken(t, k3, "k3"))
		return h.srv.Readiness(context.Background()).Checks["jwks:rs"].Status == "degraded"
	})
}

// readyz is the admin listener's /readyz answer.
type readyz struct {
	code   int
	body   string // for failure messages
	Status string `json:"status"`
	Checks map[string]struct {
		Status string          `json:"status"`
		Detail json.RawMessage `json:"detail"`
	} `json:"checks"`
}

// problem is the problem a jwks:<issuer> check's detail reports.
func (rd readyz) problem(t *testing.T, check string) string {
	t.Helper()
	var d struct {
		Problem string `json:"problem"`
	}
	if err := json.Unmarshal(rd.Checks[check].Detail, &d); err != nil {
		t.Fatalf("readyz %s: %v", check, err)
	}
	return d.Problem
}

func (h *harness) readyz() readyz {
	h.t.Helper()
	resp, err := h.client.Get(h.admin + "/readyz")
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	rd := readyz{code: resp.StatusCode, body: string(b)}
	if err := json.Unmarshal(b, &rd); err != nil {
		h.t.Fatalf("readyz: %v: %s", err, b)
	}
	return rd
}

// jwksHarness is a gateway with an RS256 issuer "rs" whose keys come from js,
// refreshed every 50ms, and a cache_ttl long enough that only revocation
// can end a cached token's trust within a test.
func jwksHarness(t *testing.T, js *jwksOrigin, mod func(*auth.IssuerConfig)) *harness {
	return newHarness(t, func(c *Config) {
		c.Auth.CacheTTL = time.Hour
		ic := auth.IssuerConfig{
			Name: "rs", Issuer: "https://rs.test", Audiences: []string{"tiercel"}, Algorithms: []string{"RS256"},
			JWKSURL: js.URL, JWKSRefresh: 50 * time.Millisecond,
		}
		if mod != nil {
			mod(&ic)
		}
		c.Auth.Issuers = append(c.Auth.Issuers, ic)
	})
}

// TestJWKSEmptiedRevokesOverSockets guards issue 13 item 5 (emptied JWKS
// revokes) and the readyz issue (an issuer with no keys is not ready)
// through a real gateway: once the JWKS answers {"keys":[]}, the token that
// got a 200 (and sits in the verified-token cache) gets a 401 at the next
// refresh, and /readyz on the admin listener is 503 naming the issuer;
// listing the key again restores both.
func TestJWKSEmptiedRevokesOverSockets(t *testing.T) {
	k1, _ := rsa.GenerateKey(rand.Reader, 2048)
	js := newJWKSOrigin(t)
	js.serve(t, map[string]*rsa.PrivateKey{"k1": k1})
	h := jwksHarness(t, js, nil)
	tok := rsToken(t, k1, "k1")
	for range 2 {
		if r := h.get("/api/products/1", tok); r.status != 200 {
			t.Fatalf("RS256 token: %d %s", r.status, r.body)
		}
	}
	if st := h.srv.current().verifier.Stats(); st.CacheHits == 0 {
		t.Fatalf("the token was not served from the cache: %+v", st)
	}
	if rd := h.readyz(); rd.code != 200 || rd.Checks["jwks:rs"].Status != "ok" {
		t.Fatalf("readyz before: %d %s", rd.code, rd.body)
	}

	js.serve(t, nil)
	testwait.For(t, 5*time.Second, "the cached token to be refused", func() bool {
		r := h.get("/api/products/1", tok)
		return r.status == 401 && r.err.Code == "unknown_kid"
	})
	rd := h.readyz()
	if c := rd.Checks["jwks:rs"]; rd.code != 503 || rd.Status != "not_ready" || c.Status != "down" || rd.problem(t, "jwks:rs") != "no keys: JWKS answered an empty set" {
		t.Fatalf("readyz with an empty JWKS: %d %s", rd.code, rd.body)
	}
	if c := rd.Checks["jwks:test"]; c.Status != "" {
		t.Fatalf("an issuer with static keys only has a JWKS check: %s", rd.body)
	}

	js.serve(t, map[string]*rsa.PrivateKey{"k1": k1})
	testwait.For(t, 5*time.Second, "the key to be trusted again", func() bool {
		return h.get("/api/products/1", tok).status == 200
	})
	if rd := h.readyz(); rd.code != 200 || rd.Status != "ready" {
		t.Fatalf("readyz after: %d %s", rd.code, rd.body)
	}
	h.wantMetrics(`tiercel_auth_jwks_fetches_total{result="empty"} `, "tiercel_auth_jwks_keys_revoked_total 1\n")
}

// TestJWKSNeverFetchedNotReady guards the readyz issue, its other half:
// an issuer whose JWKS could not be fetched since start has no key, so
// the gateway starts (its other routes can serve) but /readyz is 503
// naming the issuer, until a fetch succeeds.
func TestJWKSNeverFetchedNotReady(t *testing.T) {
	k1, _ := rsa.GenerateKey(rand.Reader, 2048)
	js := newJWKSOrigin(t)
	js.fail()
	h := jwksHarness(t, js, nil)
	rd := h.readyz()
	if c := rd.Checks["jwks:rs"]; rd.code != 503 || rd.Status != "not_ready" || c.Status != "down" ||
		!strings.HasPrefix(rd.problem(t, "jwks:rs"), "no keys: JWKS never loaded") {
		t.Fatalf("readyz with a JWKS never fetched: %d %s", rd.code, rd.body)
	}
	if r := h.get("/api/products/1", rsToken(t, k1, "k1")); r.status != 401 {
		t.Fatalf("a token of the issuer without keys: %d %s", r.status, r.body)
	}
	js.serve(t, map[string]*rsa.PrivateKey{"k1": k1})
	testwait.For(t, 5*time.Second, "readyz to turn ready after the first good fetch", func() bool {
		rd := h.readyz()
		return rd.code == 200 && rd.Checks["jwks:rs"].Status == "ok"
	})
}

// TestJWKSMaxStaleOverSockets guards issue 13 item 5, second half, through
// a real gateway: a failing JWKS keeps the last good keys (200, /readyz 200
// with the issuer degraded and the error) for jwks_max_stale after the last
// good fetch, then the cached token gets a 401 keys_stale and /readyz a
// 503; a good fetch restores both.
func TestJWKSMaxStaleOverSockets(t *testing.T) {
	k1, _ := rsa.GenerateKey(rand.Reader, 2048)
	js := newJWKSOrigin(t)
	js.serve(t, map[string]*rsa.PrivateKey{"k1": k1})
	h := jwksHarness(t, js, func(ic *auth.IssuerConfig) { ic.JWKSMaxStale = time.Second })
	tok := rsToken(t, k1, "k1")
	if r := h.get("/api/products/1", tok); r.status != 200 {
		t.Fatalf("RS256 token: %d %s", r.status, r.body)
	}

	js.fail()
	testwait.For(t, 5*time.Second, "readyz to report the failing JWKS", func() bool {
		return h.readyz().Checks["jwks:rs"].Status == "degraded"
	})
	if r := h.get("/api/products/1", tok); r.status != 200 {
		t.Fatalf("within jwks_max_stale: %d %s", r.status, r.body)
	}
	if rd := h.readyz(); rd.code != 200 || !strings.Contains(rd.problem(t, "jwks:rs"), "unexpected status 503") {
		t.Fatalf("readyz within jwks_max_stale: %d %s", rd.code, rd.body)
	}

	testwait.For(t, 5*time.Second, "the cached token to be refused", func() bool {
		r := h.get("/api/products/1", tok)
		return r.status == 401 && r.err.Code == "keys_stale"
	})
	rd := h.readyz()
	if c := rd.Checks["jwks:rs"]; rd.code != 503 || c.Status != "down" || !strings.HasPrefix(rd.problem(t, "jwks:rs"), "no keys: JWKS stale since ") {
		t.Fatalf("readyz past jwks_max_stale: %d %s", rd.code, rd.body)
	}

	js.serve(t, map[string]*rsa.PrivateKey{"k1": k1})
	testwait.For(t, 5*time.Second, "the key to be trusted again", func() bool {
		return h.get("/api/products/1", tok).status == 200
	})
	if rd := h.readyz(); rd.code != 200 || rd.Status != "ready" {
		t.Fatalf("readyz after: %d %s", rd.code, rd.body)
	}
	h.wantMetrics("tiercel_auth_jwks_stale_total 1\n", `tiercel_auth_failures_total{reason="keys_stale"} `)
}

// wantMetrics fails unless /metrics on the admin listener contains each of
// lines.
func (h *harness) wantMetrics(lines ...string) {
	h.t.Helper()
	resp, err := h.client.Get(h.admin + "/metrics")
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range lines {
		if !strings.Contains(string(b), l) {
			h.t.Errorf("/metrics lacks %q", l)
		}
	}
}
