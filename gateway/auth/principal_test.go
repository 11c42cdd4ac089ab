package auth

import (
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Kept claims (Config.KeepClaims, for private cache keys) come back in one
// canonical form per value, absent when the token lacks them or has an
// empty string.
func TestPrincipalKeptClaims(t *testing.T) {
	names := ClaimNames{Subject: "sub", Tenant: "tenant", Scopes: "scope", Roles: "roles", Plan: "plan"}
	keep := []string{"sub", "client_id", "scope", "roles", "aud", "n", "obj", "empty"}
	f := func(c jwt.MapClaims, want map[string][]string) {
		t.Helper()
		c["exp"] = float64(time.Now().Add(time.Hour).Unix())
		p, err := newPrincipal("iss", names, keep, c)
		if err != nil {
			t.Fatal(err)
		}
		for i, name := range keep {
			got, ok := p.Claim(i)
			w, wok := want[name]
			if ok != wok || !slices.Equal(got, w) {
				t.Fatalf("%v: claim %s = %q %v, want %q %v", c, name, got, ok, w, wok)
			}
		}
	}
	f(jwt.MapClaims{"client_id": "svc-1", "empty": ""}, map[string][]string{"client_id": {"svc-1"}})
	f(jwt.MapClaims{"sub": "alice", "scope": "write read read", "roles": []any{"b", "a"}, "aud": []any{"y", "x"}},
		map[string][]string{"sub": {"alice"}, "scope": {"read", "write"}, "roles": {"a", "b"}, "aud": {"y", "x"}})
	// Azure AD and Okta name the scopes claim scp.
	f(jwt.MapClaims{"scp": []any{"b", "a"}}, map[string][]string{"scope": {"a", "b"}})
	// An empty scope list is a value (no scopes), not an absence.
	f(jwt.MapClaims{"scope": ""}, map[string][]string{"scope": {}})
	f(jwt.MapClaims{"n": float64(42), "obj": map[string]any{"b": 1, "a": true}},
		map[string][]string{"n": {"42"}, "obj": {`{"a":true,"b":1}`}})
	// Without KeepClaims nothing is kept.
	p, _ := newPrincipal("iss", names, nil, jwt.MapClaims{"sub": "a", "exp": float64(time.Now().Add(time.Hour).Unix())})
	if _, ok := p.Claim(0); ok {
		t.Fatal("a claim kept without KeepClaims")
	}
}
