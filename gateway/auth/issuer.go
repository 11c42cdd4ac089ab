package auth

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// issuer is one trusted issuer: its config with defaults, the keys known in
// advance and, optionally, its remote JWKS.
type issuer struct {
	cfg    IssuerConfig
	static *keySet
	jwks   *jwksSource // nil without JWKSURL
}

// loadIssuer loads the static keys of issuers[idx] and checks that each fits
// the issuer's algorithms: Validate cannot, as it does not read key files.
// It reports every key that cannot be used, each as "issuers[i].keys[j]:".
func loadIssuer(idx int, ic IssuerConfig) (*issuer, error) {
	var keys []*key
	var errs []error
	seen := make(map[string]bool)
	for i, kc := range ic.Keys {
		ks, err := loadKeys(kc)
		if err == nil {
			err = checkKeys(ks, ic.Algorithms, seen)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("issuers[%d].keys[%d]: cannot load key: %w", idx, i, err))
			continue
		}
		keys = append(keys, ks...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	is := &issuer{cfg: ic, static: newKeySet(keys, ic.Algorithms)}
	if ic.JWKSURL == "" {
		for _, alg := range ic.Algorithms {
			if len(is.static.forAlg(alg)) == 0 {
				return nil, fmt.Errorf("issuers[%d].keys: no key for %s", idx, alg)
			}
		}
	}
	return is, nil
}

// LoadKeys is Validate followed by the step of New that reads key files:
// every static key is read, parsed and matched to its issuer's algorithms,
// and no JWKS is fetched. tiercel validate runs it, so that a missing or
// malformed key file is refused there as serve would refuse it. Every
// problem is reported.
func (c Config) LoadKeys() error {
	if err := c.Validate(); err != nil {
		return err
	}
	var errs []error
	for i, ic := range c.withDefaults().Issuers {
		if _, err := loadIssuer(i, ic); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// checkKeys rejects keys that fit none of algs, and two keys of one kind
// under one kid, which no token could tell apart.
func checkKeys(ks []*key, algs []string, seen map[string]bool) error {
	for _, k := range ks {
		if !slices.ContainsFunc(algs, k.fits) {
			return fmt.Errorf("%s key %q fits none of algorithms %v", k.kind, k.kid, algs)
		}
		id := k.kind.String() + "/" + k.kid
		if seen[id] {
			return fmt.Errorf("duplicate %s key with kid %q", k.kind, k.kid)
		}
		seen[id] = true
	}
	return nil
}

// remoteKeys returns the JWKS set the issuer trusts at now (Unix ns): none
// before the first good fetch, nor once the last one is older than
// jwks_max_stale.
func (is *issuer) remoteKeys(now int64) *keySet {
	if is.jwks == nil {
		return nil
	}
	return is.jwks.keys.Load().trustedAt(now)
}

// key finds the key for a token's kid and alg at now (Unix ns), and until
// when a token it verifies may be cached: the staleAt of its JWKS set, or 0
// (no bound) for a static key. Only a key that is not found triggers a JWKS
// refetch, and that is rate limited inside jwksSource.
func (is *issuer) key(kid, alg string, now int64, deadline time.Time) (*key, int64, error) {
	k, set, res := is.lookup(kid, alg, now)
	if res == keyNotFound && is.jwks != nil {
		is.jwks.refetchForUnknownKID(deadline)
		k, set, res = is.lookup(kid, alg, now)
	}
	switch res {
	case keyFound:
		return k, set.staleAt, nil
	case keyWrongType:
		return nil, 0, &Error{Reason: ReasonAlgorithm, Err: fmt.Errorf("key %q of issuer %s does not fit alg %s", kid, is.cfg.Name, alg)}
	case keyAmbiguous:
		return nil, 0, &Error{Reason: ReasonUnknownKID, Err: fmt.Errorf("token has no kid and issuer %s has several %s keys", is.cfg.Name, alg)}
	}
	return nil, 0, is.notFound(kid, alg, now)
}

// notFound explains a key that is in no trusted set.
func (is *issuer) notFound(kid, alg string, now int64) *Error {
	if is.jwks != nil {
		switch set := is.jwks.keys.Load(); {
		case set == nil:
			return &Error{Reason: ReasonKeysUnavailable, Err: fmt.Errorf("JWKS of issuer %s never loaded", is.cfg.Name)}
		case set.trustedAt(now) == nil:
			return &Error{Reason: ReasonKeysStale, Err: fmt.Errorf("JWKS of issuer %s stale since %s: no successful fetch within jwks_max_stale",
				is.cfg.Name, time.Unix(0, set.staleAt).UTC().Format(time.RFC3339))}
		}
	}
	return &Error{Reason: ReasonUnknownKID, Err: fmt.Errorf("issuer %s has no %s key with kid %q", is.cfg.Name, alg, kid)}
}

// lookup also returns the set the key was found in.
func (is *issuer) lookup(kid, alg string, now int64) (*key, *keySet, lookupResult) {
	remote := is.remoteKeys(now)
	if kid == "" {
		return soleKey(is.static, remote, alg)
	}
	k, res := is.static.find(kid, alg)
	if res == keyFound {
		return k, is.static, res
	}
	k, res2 := remote.find(kid, alg)
	if res2 == keyFound {
		return k, remote, res2
	}
	if res == keyWrongType || res2 == keyWrongType {
		return nil, nil, keyWrongType
	}
	return nil, nil, keyNotFound
}

// soleKey allows a token without kid only when exactly one key of the two
// sets could have signed it; trying every key would let a kid-less token
// pick its key.
func soleKey(static, remote *keySet, alg string) (*key, *keySet, lookupResult) {
	a, b := static.forAlg(alg), remote.forAlg(alg)
	switch n := len(a) + len(b); {
	case n == 0:
		return nil, nil, keyNotFound
	case n > 1:
		return nil, nil, keyAmbiguous
	case len(a) == 1:
		return a[0], static, keyFound
	}
	return b[0], remote, keyFound
}

// checkAudience enforces the issuer's audiences, if it has any.
func (is *issuer) checkAudience(c jwt.MapClaims) *Error {
	if len(is.cfg.Audiences) == 0 {
		return nil
	}
	aud, err := c.GetAudience()
	if err != nil {
		return &Error{Reason: ReasonMalformed, Err: err}
	}
	for _, a := range aud {
		if slices.Contains(is.cfg.Audiences, a) {
			return nil
		}
	}
	return &Error{Reason: ReasonAudience, Err: errors.New("token aud names none of the issuer's audiences")}
}
