package auth

import (
	"errors"
	"fmt"
	"maps"

	"github.com/golang-jwt/jwt/v5"
)

// Sign makes a token for iss, for the `tiercel token` command and for tests.
// It signs with the first key of iss that can sign (an HMAC secret, a private
// key PEM or a private JWK) and the first of iss.Algorithms that fits that
// key, and sets the kid header to the key's kid. claims without "iss" get
// iss.Issuer; the caller's map is not modified.
func Sign(iss IssuerConfig, claims jwt.MapClaims) (string, error) {
	if _, err := validateAlgorithms(iss.Algorithms); err != nil {
		return "", fmt.Errorf("cannot sign: %w", err)
	}
	k, alg, err := signingKey(iss)
	if err != nil {
		return "", fmt.Errorf("cannot sign: %w", err)
	}
	claims = maps.Clone(claims)
	if claims == nil {
		claims = jwt.MapClaims{}
	}
	if _, ok := claims["iss"]; !ok {
		claims["iss"] = iss.Issuer
	}
	t := jwt.NewWithClaims(jwt.GetSigningMethod(alg), claims)
	if k.kid != "" {
		t.Header["kid"] = k.kid
	}
	s, err := t.SignedString(k.signer)
	if err != nil {
		return "", fmt.Errorf("cannot sign: %w", err)
	}
	return s, nil
}

func signingKey(iss IssuerConfig) (*key, string, error) {
	for i, kc := range iss.Keys {
		ks, err := loadKeys(kc)
		if err != nil {
			return nil, "", fmt.Errorf("cannot load key keys[%d]: %w", i, err)
		}
		for _, k := range ks {
			if k.signer == nil {
				continue
			}
			for _, alg := range iss.Algorithms {
				if k.fits(alg) {
					return k, alg, nil
				}
			}
		}
	}
	return nil, "", errors.New("no key that can sign fits the issuer's algorithms")
}
