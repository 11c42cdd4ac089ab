package chaos

import (
	"crypto/rand"
	"crypto/rsa"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// fixture is what every fault's environment shares: RSA keys are slow to
// make, especially under the race detector.
type fixture struct {
	key, rogue *rsa.PrivateKey // rogue signs with a kid the JWKS never lists
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	k1, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{key: k1, rogue: k2}
}

// token signs an RS256 token for subject with every scope the routes need.
func (fx *fixture) token(t testing.TB, key *rsa.PrivateKey, kid, subject string) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": issuer, "aud": "tiercel", "sub": subject,
		"scope": "products:read features:read features:write predict",
		"iat":   time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
	})
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// scope collects the cleanups of one fault's run, so that a run's world
// is torn down when the run ends rather than with the test: a fault run
// twice never has two worlds alive at once.
type scope struct {
	testing.TB
	mu  sync.Mutex
	fns []func()
}

func newScope(t testing.TB) *scope { return &scope{TB: t} }

// Cleanup registers f to run, last in first out, at close.
func (s *scope) Cleanup(f func()) {
	s.mu.Lock()
	s.fns = append(s.fns, f)
	s.mu.Unlock()
}

func (s *scope) close() {
	s.mu.Lock()
	fns := s.fns
	s.fns = nil
	s.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
}
