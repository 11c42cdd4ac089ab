package auth

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Principal is who a verified token speaks for. Verify returns the same
// *Principal for every hit on a cached token: treat it as read-only.
type Principal struct {
	Issuer  string
	Subject string
	Tenant  string
	Plan    string
	Scopes  []string
	Roles   []string
	// ExpiresAt is the token's exp.
	ExpiresAt time.Time
}

// HasScopes reports whether p has every one of required. It does not
// allocate: it runs per request on cached principals.
func (p *Principal) HasScopes(required []string) bool {
	for _, r := range required {
		if !contains(p.Scopes, r) {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// newPrincipal maps the configured claims. A mapped claim of the wrong type
// rejects the token rather than being ignored: a tenant silently dropped
// could widen what the token is allowed to see.
func newPrincipal(iss string, names ClaimNames, c jwt.MapClaims) (*Principal, error) {
	p := &Principal{Issuer: iss}
	var err error
	if p.Subject, err = stringClaim(c, names.Subject); err != nil {
		return nil, err
	}
	if p.Tenant, err = stringClaim(c, names.Tenant); err != nil {
		return nil, err
	}
	if p.Plan, err = stringClaim(c, names.Plan); err != nil {
		return nil, err
	}
	scopes := names.Scopes
	if _, ok := c[scopes]; !ok && scopes == "scope" {
		scopes = "scp" // the name Azure AD and Okta use
	}
	if p.Scopes, err = listClaim(c, scopes); err != nil {
		return nil, err
	}
	if p.Roles, err = listClaim(c, names.Roles); err != nil {
		return nil, err
	}
	exp, err := c.GetExpirationTime()
	if err != nil {
		return nil, err
	}
	if exp == nil {
		return nil, errors.New("claim exp: missing") // the parser requires it; kept as a guard
	}
	p.ExpiresAt = exp.Time
	return p, nil
}

func stringClaim(c jwt.MapClaims, name string) (string, error) {
	v, ok := c[name]
	if !ok || v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("claim %s: want a string, got %T", name, v)
	}
	return s, nil
}

// listClaim accepts a space-separated string (OAuth 2 "scope") or an array
// of strings ("scp", "roles").
func listClaim(c jwt.MapClaims, name string) ([]string, error) {
	switch v := c[name].(type) {
	case nil:
		return nil, nil
	case string:
		return strings.Fields(v), nil
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			s, ok := x.(string)
			if !ok {
				return nil, fmt.Errorf("claim %s: want strings, got a %T", name, x)
			}
			out = append(out, s)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("claim %s: want a string or an array of strings, got %T", name, v)
	}
}
