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
func loadIssuer(idx int, ic IssuerConfig) (*issuer, error) {
	var keys []*key
	seen := make(map[string]bool)
	for i, kc := range ic.Keys {
		ks, err := loadKeys(kc)
		if err == nil {
			err = checkKeys(ks, ic.Algorithms, seen)
		}
		if err != nil {
			return nil, fmt.Errorf("cannot load key issuers[%d].keys[%d]: %w", idx, i, err)
		}
		keys = append(keys, ks...)
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

func (is *issuer) remoteKeys() *keySet {
	if is.jwks == nil {
		return nil
	}
	return is.jwks.keys.Load()
}

// key finds the key for a token's kid and alg. Only a key that is not found
// triggers a JWKS refetch, and that is rate limited inside jwksSource.
func (is *issuer) key(kid, alg string, deadline time.Time) (*key, error) {
	k, res := is.lookup(kid, alg)
	if res == keyNotFound && is.jwks != nil {
		is.jwks.refetchForUnknownKID(deadline)
		k, res = is.lookup(kid, alg)
	}
	switch res {
	case keyFound:
		return k, nil
	case keyWrongType:
		return nil, &Error{Reason: ReasonAlgorithm, Err: fmt.Errorf("key %q of issuer %s does not fit alg %s", kid, is.cfg.Name, alg)}
	case keyAmbiguous:
		return nil, &Error{Reason: ReasonUnknownKID, Err: fmt.Errorf("token has no kid and issuer %s has several %s keys", is.cfg.Name, alg)}
	}
	if is.jwks != nil && is.remoteKeys() == nil {
		return nil, &Error{Reason: ReasonKeysUnavailable, Err: fmt.Errorf("JWKS of issuer %s never loaded", is.cfg.Name)}
	}
	return nil, &Error{Reason: ReasonUnknownKID, Err: fmt.Errorf("issuer %s has no %s key with kid %q", is.cfg.Name, alg, kid)}
}

func (is *issuer) lookup(kid, alg string) (*key, lookupResult) {
	remote := is.remoteKeys()
	if kid == "" {
		return soleKey(is.static.forAlg(alg), remote.forAlg(alg))
	}
	k, res := is.static.find(kid, alg)
	if res == keyFound {
		return k, res
	}
	k, res2 := remote.find(kid, alg)
	if res2 == keyFound {
		return k, res2
	}
	if res == keyWrongType || res2 == keyWrongType {
		return nil, keyWrongType
	}
	return nil, keyNotFound
}

// soleKey allows a token without kid only when exactly one key could have
// signed it; trying every key would let a kid-less token pick its key.
func soleKey(a, b []*key) (*key, lookupResult) {
	switch n := len(a) + len(b); {
	case n == 0:
		return nil, keyNotFound
	case n > 1:
		return nil, keyAmbiguous
	case len(a) == 1:
		return a[0], keyFound
	}
	return b[0], keyFound
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
