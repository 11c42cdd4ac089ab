package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Principal is who a verified token speaks for. VerifyBearer returns the same
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
	// claims are the values of Config.KeepClaims, by index; nil: absent.
	claims [][]string
}

// Claim returns the i-th of Config.KeepClaims: its values in canonical form
// and whether the token has it. A string is one value (an empty string
// counts as absent: it identifies no one); an array is its elements in
// order; the issuer's scopes and roles claims are sets, sorted, so
// "read write" and "write read" are one value; a number, a boolean or an
// object is its JSON text. It does not allocate.
func (p *Principal) Claim(i int) ([]string, bool) {
	if i >= len(p.claims) || p.claims[i] == nil {
		return nil, false
	}
	return p.claims[i], true
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
func newPrincipal(iss string, names ClaimNames, keep []string, c jwt.MapClaims) (*Principal, error) {
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
	if len(keep) > 0 {
		p.claims = make([][]string, len(keep))
		for i, name := range keep {
			p.claims[i] = p.canonicalClaim(names, scopes, name, c)
		}
	}
	return p, nil
}

// canonicalClaim is the value Claim returns for name; nil when absent.
// scopes is the claim the scopes were read from ("scp" for "scope").
func (p *Principal) canonicalClaim(names ClaimNames, scopes, name string, c jwt.MapClaims) []string {
	v, ok := c[name]
	if name == names.Scopes && scopes != name {
		v, ok = c[scopes]
	}
	if !ok || v == nil {
		return nil
	}
	switch name {
	case names.Scopes:
		return sortedSet(p.Scopes)
	case names.Roles:
		return sortedSet(p.Roles)
	}
	switch v := v.(type) {
	case string:
		if v == "" {
			return nil
		}
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			out = append(out, jsonText(x))
		}
		return out
	default:
		return []string{jsonText(v)}
	}
}

// sortedSet is a sorted copy; an empty set is present, not absent.
func sortedSet(list []string) []string {
	out := append(make([]string, 0, len(list)), list...)
	slices.Sort(out)
	return slices.Compact(out)
}

// jsonText is a claim value as a string: itself for a string, its JSON
// text otherwise (json.Marshal sorts object keys: one value, one text).
func jsonText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
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
