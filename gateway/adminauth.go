package gateway

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// Admin 401s, in the gateway's one error shape.
var (
	errAdminMissing   = &Error{http.StatusUnauthorized, "missing", "this admin endpoint needs a bearer token or a client certificate"}
	errAdminMalformed = &Error{http.StatusUnauthorized, "malformed", "the Authorization header is not one \"Bearer <token>\""}
	errAdminBadToken  = &Error{http.StatusUnauthorized, "bad_token", "the bearer token is not the admin token"}
)

// adminGuard admits a request to a protected admin endpoint with the
// admin token or a verified client certificate. Without any credential
// configured (a loopback listener, or insecure: true) it admits everything.
type adminGuard struct {
	// tokenSum is the token's SHA-256: comparing digests of equal length
	// in constant time leaks neither the token's bytes nor its length.
	tokenSum [sha256.Size]byte
	hasToken bool
	mtls     bool
	open     map[string]bool // paths served without a credential
	next     http.Handler
}

func newAdminGuard(c AdminConfig, creds adminCreds, next http.Handler) http.Handler {
	if !creds.any() {
		return next
	}
	g := &adminGuard{next: next, hasToken: creds.token != nil, open: map[string]bool{},
		mtls: creds.tls != nil && creds.tls.ClientCAs != nil}
	if g.hasToken {
		g.tokenSum = sha256.Sum256(creds.token)
	}
	if !c.ProtectHealth {
		g.open["/healthz"], g.open["/readyz"] = true, true
	}
	if !c.ProtectMetrics {
		g.open["/metrics"] = true
	}
	return g
}

// ServeHTTP protects every path but the open ones, unknown paths included:
// a new endpoint is private until it is listed here.
func (g *adminGuard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if g.open[r.URL.Path] {
		g.next.ServeHTTP(w, r)
		return
	}
	if e := g.check(r); e != nil {
		writeUnauthorized(w, e)
		return
	}
	g.next.ServeHTTP(w, r)
}

func (g *adminGuard) check(r *http.Request) *Error {
	if g.mtls && r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		return nil
	}
	lines := r.Header.Values("Authorization")
	if len(lines) == 0 {
		return errAdminMissing
	}
	scheme, tok, ok := strings.Cut(lines[0], " ")
	if len(lines) > 1 || !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return errAdminMalformed
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	if !g.hasToken || subtle.ConstantTimeCompare(sum[:], g.tokenSum[:]) != 1 {
		return errAdminBadToken
	}
	return nil
}

// writeUnauthorized answers a 401 with its RFC 6750 challenge.
func writeUnauthorized(w http.ResponseWriter, e *Error) {
	challenge := `Bearer realm="tiercel-admin"`
	if e != errAdminMissing {
		challenge += `, error="invalid_token"`
	}
	w.Header().Set("WWW-Authenticate", challenge)
	writeAdminError(w, e)
}
