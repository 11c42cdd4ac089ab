package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Verifier verifies tokens against the configured issuers. It is safe for
// concurrent use.
type Verifier struct {
	parser  *jwt.Parser
	issuers []*issuer // in configuration order, for Status
	byIss   map[string]*issuer
	// allowed is the union of the issuers' allow-lists; jwt reports an alg
	// outside it as a bad signature, and we want ReasonAlgorithm.
	allowed map[string]bool
	cache   *tokenCache

	maxTokenBytes int
	// keepClaims is Config.KeepClaims: what a Principal keeps for Claim.
	keepClaims []string
	cacheTTL   time.Duration
	// now is time.Now except in tests, which set it at construction to a
	// controllable clock rather than sleeping past exp.
	now func() time.Time
	// hitNow is the time in Unix ns for the cache-hit path: a coarseClock in
	// production, now in tests.
	hitNow func() int64
	clock  *coarseClock // nil in tests

	transport *http.Transport // owned, so Close can drop its idle connections
	stop      chan struct{}
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once

	verifications atomic.Uint64
	failures      [numReasons]atomic.Uint64
}

// New validates cfg (returning Validate's error as is, so callers can prefix
// their own path), loads the static keys, fetches every JWKS once and starts
// their refreshers. A JWKS that cannot be fetched does not fail New: its
// issuer's tokens fail with ReasonKeysUnavailable until a fetch succeeds, and
// Status reports why. A nil logger discards.
func New(cfg Config, logger *slog.Logger) (*Verifier, error) {
	return newVerifier(cfg, logger, nil)
}

// newVerifier takes the clock tests control; nil means the real one.
func newVerifier(cfg Config, logger *slog.Logger, now func() time.Time) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	v := &Verifier{
		byIss:         make(map[string]*issuer, len(cfg.Issuers)),
		allowed:       make(map[string]bool),
		cache:         newTokenCache(cfg.CacheEntries),
		maxTokenBytes: cfg.MaxTokenBytes,
		keepClaims:    slices.Clone(cfg.KeepClaims),
		cacheTTL:      cfg.CacheTTL,
		now:           now,
		stop:          make(chan struct{}),
	}
	if now == nil {
		v.now = time.Now
		v.clock = newCoarseClock()
		v.hitNow = v.clock.ns.Load
	} else {
		v.hitNow = func() int64 { return now().UnixNano() }
	}
	var methods []string
	for i, ic := range cfg.Issuers {
		is, err := loadIssuer(i, ic)
		if err != nil {
			return nil, err
		}
		v.issuers = append(v.issuers, is)
		v.byIss[ic.Issuer] = is
		for _, alg := range ic.Algorithms {
			if !v.allowed[alg] {
				v.allowed[alg] = true
				methods = append(methods, alg)
			}
		}
	}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods(methods),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(v.now),
	)
	// Goroutines start last: nothing can fail after them.
	if v.clock != nil {
		v.wg.Go(func() { v.clock.run(v.stop) })
	}
	v.startJWKS(logger)
	return v, nil
}

// startJWKS starts one refresher per JWKS issuer and waits for each first
// fetch, in parallel, so that New returns with the keys that can be had.
func (v *Verifier) startJWKS(logger *slog.Logger) {
	v.transport = http.DefaultTransport.(*http.Transport).Clone()
	client := &http.Client{Transport: v.transport}
	var ctx context.Context
	ctx, v.cancel = context.WithCancel(context.Background())
	var firsts []chan struct{}
	for _, is := range v.issuers {
		if is.cfg.JWKSURL == "" {
			continue
		}
		is.jwks = newJWKSSource(ctx, is.cfg, client, logger, v.now)
		is.jwks.wg = &v.wg
		first := make(chan struct{})
		firsts = append(firsts, first)
		v.wg.Go(func() { is.jwks.run(v.stop, first) })
	}
	for _, first := range firsts {
		<-first
	}
}

// Close stops the JWKS refreshers and the clock, and waits for them. VerifyBearer
// still works after Close, with the keys it has, but never fetches again and
// no longer uses the cache.
func (v *Verifier) Close() {
	v.closeOnce.Do(func() {
		close(v.stop)
		v.cancel()
		// A barrier: a refetch that saw the context alive has added its
		// goroutine to wg by now, and later ones see it cancelled.
		for _, is := range v.issuers {
			if is.jwks != nil {
				is.jwks.mu.Lock()
				//lint:ignore SA2001 the empty critical section is the barrier
				is.jwks.mu.Unlock()
			}
		}
		v.wg.Wait()
		v.transport.CloseIdleConnections()
	})
}

// VerifyBearer checks the JWT of an Authorization header value
// ("Bearer <token>", the scheme case-insensitive, the token an RFC 6750
// b64token) and returns its Principal, or an *Error. authorization is not
// retained. A request must be answered by deadline (zero: no deadline): a
// token naming an unknown kid waits for the JWKS refetch it triggers only
// until then; the fetch goes on in the background, so the keys it brings
// serve the next request. A cached token costs a map lookup and no
// allocation, and skips the b64token check: it verified, so its characters
// are base64url and dots, and re-proving that on every request cost a
// fifth of the cached path. Anything not cached gets every check, in
// order. The returned Principal is shared and must not be modified.
func (v *Verifier) VerifyBearer(authorization []byte, deadline time.Time) (*Principal, error) {
	tok, e := splitBearer(authorization)
	if e != nil {
		// Counted like every other rejection: a missing or malformed
		// header is what tiercel_auth_failures_total{reason="missing"}
		// and {reason="malformed"} are for.
		return nil, v.fail(e)
	}
	if len(tok) <= v.maxTokenBytes {
		if p := v.cache.get(tok, v.hitNow()); p != nil {
			return p, nil
		}
	}
	if !isB64Token(tok) {
		return nil, v.fail(errBearerChars)
	}
	return v.verifyToken(tok, deadline)
}

// verifyToken is VerifyBearer after the header is read: the token's
// length, the cache, its shape, then its signature and claims.
func (v *Verifier) verifyToken(token []byte, deadline time.Time) (*Principal, error) {
	switch {
	case len(token) == 0:
		return nil, v.fail(errMissing)
	case len(token) > v.maxTokenBytes:
		return nil, v.fail(errTooLarge)
	}
	if p := v.cache.get(token, v.hitNow()); p != nil {
		return p, nil
	}
	if !looksLikeJWT(token) {
		return nil, v.fail(errMalformed)
	}
	// The copy is what the cache keeps: the caller reuses token's buffer.
	return v.verify(string(token), deadline)
}

func (v *Verifier) verify(token string, deadline time.Time) (*Principal, error) {
	now := v.now()
	v.verifications.Add(1)
	claims := jwt.MapClaims{}
	var k *key
	var until int64 // when k's JWKS set goes stale; 0 for a static key
	keyfunc := func(t *jwt.Token) (any, error) {
		var err error
		k, until, err = v.keyfunc(t, now.UnixNano(), deadline)
		if err != nil {
			return nil, err
		}
		return k.pub, nil
	}
	parsed, err := v.parser.ParseWithClaims(token, claims, keyfunc)
	if err != nil {
		return nil, v.fail(v.classify(parsed, err))
	}
	iss, _ := claims.GetIssuer() // keyfunc found the issuer by it
	is := v.byIss[iss]
	if e := is.checkAudience(claims); e != nil {
		return nil, v.fail(e)
	}
	p, err := newPrincipal(iss, is.cfg.Claims, v.keepClaims, claims)
	if err != nil {
		return nil, v.fail(&Error{Reason: ReasonMalformed, Err: err})
	}
	expires := p.ExpiresAt
	if limit := now.Add(v.cacheTTL); limit.Before(expires) {
		expires = limit
	}
	end := expires.UnixNano()
	if until != 0 {
		// No longer than k's JWKS set is trusted: nothing marks it stale.
		end = min(end, until)
	}
	v.cache.put(token, p, k, end-int64(cacheMargin), now.UnixNano())
	return p, nil
}

// keyfunc picks the issuer by the not yet verified iss, then the key by kid,
// checking the alg against that issuer's allow-list and the key's type. Only
// the signature check that follows makes iss trustworthy. It also returns
// until when the key's set is trusted (see issuer.key).
func (v *Verifier) keyfunc(t *jwt.Token, now int64, deadline time.Time) (*key, int64, error) {
	iss, err := t.Claims.GetIssuer()
	if err != nil {
		return nil, 0, &Error{Reason: ReasonMalformed, Err: err}
	}
	is, ok := v.byIss[iss]
	switch {
	case iss == "":
		return nil, 0, &Error{Reason: ReasonIssuer, Err: errors.New("token has no iss")}
	case !ok:
		return nil, 0, &Error{Reason: ReasonIssuer, Err: fmt.Errorf("unknown issuer %q", iss)}
	}
	alg := t.Method.Alg()
	if !slices.Contains(is.cfg.Algorithms, alg) {
		return nil, 0, &Error{Reason: ReasonAlgorithm, Err: fmt.Errorf("alg %s is not allowed for issuer %s", alg, is.cfg.Name)}
	}
	if _, ok := t.Header["crit"]; ok {
		// RFC 7515 4.1.11: extensions we do not implement must be rejected,
		// and we implement none.
		return nil, 0, &Error{Reason: ReasonMalformed, Err: errors.New("crit header is not supported")}
	}
	kid, ok := t.Header["kid"].(string)
	if !ok && t.Header["kid"] != nil {
		return nil, 0, &Error{Reason: ReasonMalformed, Err: errors.New("kid header is not a string")}
	}
	return is.key(kid, alg, now, deadline)
}

// classify maps a jwt/v5 error to a Reason. Errors from keyfunc are already
// *Error; the rest are told apart by jwt's sentinels.
func (v *Verifier) classify(t *jwt.Token, err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	r := ReasonMalformed
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		// Only an alg jwt does not know (or none at all) gets here.
		if t != nil {
			if _, ok := t.Header["alg"].(string); ok {
				r = ReasonAlgorithm
			}
		}
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		r = ReasonBadSignature
		if t != nil && t.Method != nil && !v.allowed[t.Method.Alg()] {
			r = ReasonAlgorithm // rejected by WithValidMethods, e.g. "none"
		}
	case errors.Is(err, jwt.ErrTokenExpired):
		r = ReasonExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		r = ReasonNotYetValid
	}
	return &Error{Reason: r, Err: err}
}

func (v *Verifier) fail(e *Error) error {
	v.failures[e.Reason].Add(1)
	return e
}
