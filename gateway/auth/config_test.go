package auth

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	rs := func(mod func(*IssuerConfig)) Config {
		ic := IssuerConfig{Issuer: rsIss, Algorithms: []string{"RS256"}, JWKSURL: "https://idp.example/jwks"}
		if mod != nil {
			mod(&ic)
		}
		return Config{Issuers: []IssuerConfig{ic}}
	}
	f := func(cfg Config, want string) {
		t.Helper()
		err := cfg.Validate()
		switch {
		case want == "" && err != nil:
			t.Fatalf("unexpected error: %v", err)
		case want != "" && (err == nil || err.Error() != want):
			t.Fatalf("got error %v\nwant %s", err, want)
		}
	}
	f(rs(nil), "")
	f(hsConfig(), "")
	f(Config{}, "issuers: at least one issuer is required")
	f(Config{Leeway: -time.Second, Issuers: rs(nil).Issuers}, "leeway: must not be negative")
	f(Config{CacheEntries: -1, Issuers: rs(nil).Issuers}, "cache_entries: must not be negative")
	// Every problem, each with its path.
	f(Config{Leeway: -1, CacheTTL: -1, Issuers: []IssuerConfig{
		rs(nil).Issuers[0],
		{Issuer: rsIss, Algorithms: []string{"HS999"}, JWKSTimeout: -1},
	}}, strings.Join([]string{
		"leeway: must not be negative",
		"cache_ttl: must not be negative",
		`issuers[1].algorithms[0]: unknown algorithm "HS999"`,
		"issuers[1].jwks_timeout: must not be negative",
		`issuers[1].issuer: duplicate issuer "` + rsIss + `" (also issuers[0])`,
	}, "\n"))
	f(Config{Issuers: []IssuerConfig{rs(nil).Issuers[0], {Issuer: "b", Algorithms: []string{"HS999"}}}},
		`issuers[1].algorithms[0]: unknown algorithm "HS999"`)
	f(rs(func(ic *IssuerConfig) { ic.Issuer = "" }), "issuers[0].issuer: required")
	f(rs(func(ic *IssuerConfig) { ic.Algorithms = nil }), "issuers[0].algorithms: at least one algorithm is required")
	f(rs(func(ic *IssuerConfig) { ic.Algorithms = []string{"RS256", "none"} }), `issuers[0].algorithms[1]: "none" is never allowed`)
	f(rs(func(ic *IssuerConfig) { ic.Algorithms = []string{"RS256", "HS256"} }),
		"issuers[0].algorithms: RS256 and HS256 cannot be mixed: HMAC and public-key algorithms in one issuer allow algorithm confusion")
	f(rs(func(ic *IssuerConfig) { ic.Algorithms = []string{"HS256"}; ic.JWKSURL = "" }), "issuers[0].keys: HS256 needs a secret key")
	f(rs(func(ic *IssuerConfig) { ic.JWKSURL = "" }), "issuers[0].keys: RS256 needs a public key in keys or a jwks_url")
	f(rs(func(ic *IssuerConfig) { ic.Algorithms = []string{"HS256"}; ic.Keys = []KeyConfig{{Secret: testSecret}} }),
		"issuers[0].jwks_url: not allowed with HMAC algorithms: secrets are never fetched from a URL")
	f(rs(func(ic *IssuerConfig) { ic.JWKSURL = "/jwks" }), `issuers[0].jwks_url: "/jwks" is not an absolute http(s) URL`)
	f(rs(func(ic *IssuerConfig) { ic.Keys = []KeyConfig{{Secret: testSecret}} }), "issuers[0].keys[0]: a secret key fits none of algorithms [RS256]")
	f(rs(func(ic *IssuerConfig) { ic.Keys = []KeyConfig{{PEMFile: "a.pem", JWKFile: "a.json"}} }),
		"issuers[0].keys[0]: exactly one of secret, pem_file and jwk_file is required")
	f(rs(func(ic *IssuerConfig) { ic.Keys = []KeyConfig{{}} }), "issuers[0].keys[0]: exactly one of secret, pem_file and jwk_file is required")
	f(rs(func(ic *IssuerConfig) {
		ic.Algorithms = []string{"HS256"}
		ic.JWKSURL = ""
		ic.Keys = []KeyConfig{{PEMFile: "a.pem"}}
	}), "issuers[0].keys[0]: a pem_file key fits none of algorithms [HS256]")
	f(rs(func(ic *IssuerConfig) {
		ic.Algorithms = []string{"HS256"}
		ic.JWKSURL = ""
		ic.Keys = []KeyConfig{{Secret: "short"}}
	}),
		"issuers[0].keys[0].secret: must be at least 32 bytes, got 5")
	f(rs(func(ic *IssuerConfig) {
		ic.Algorithms = []string{"HS512"}
		ic.JWKSURL = ""
		ic.Keys = []KeyConfig{{Secret: "base64:" + base64.StdEncoding.EncodeToString([]byte(testSecret))}}
	}), "")
	f(rs(func(ic *IssuerConfig) {
		ic.Algorithms = []string{"HS256"}
		ic.JWKSURL = ""
		ic.Keys = []KeyConfig{{Secret: "base64:!!"}}
	}),
		"issuers[0].keys[0].secret: cannot decode base64: illegal base64 data at input byte 0")
	f(rs(func(ic *IssuerConfig) {
		ic.Keys = []KeyConfig{{KID: "a", PEMFile: "1.pem"}, {KID: "a", PEMFile: "2.pem"}}
	}),
		`issuers[0].keys[1].kid: duplicate kid "a" (also keys[0])`)
	f(rs(func(ic *IssuerConfig) { ic.Audiences = []string{""} }), "issuers[0].audiences[0]: must not be empty")
	f(rs(func(ic *IssuerConfig) { ic.JWKSTimeout = -1 }), "issuers[0].jwks_timeout: must not be negative")
	// Issue 13 item 5: jwks_max_stale bounds how long a failing JWKS keeps
	// its keys, and cannot be shorter than a refresh.
	f(rs(func(ic *IssuerConfig) { ic.JWKSMaxStale = -time.Second }), "issuers[0].jwks_max_stale: must not be negative")
	f(rs(func(ic *IssuerConfig) { ic.JWKSMaxStale = time.Minute }), "issuers[0].jwks_max_stale: 1m0s is shorter than jwks_refresh (5m0s)")
	f(rs(func(ic *IssuerConfig) { ic.JWKSRefresh, ic.JWKSMaxStale = 2*time.Minute, time.Minute }),
		"issuers[0].jwks_max_stale: 1m0s is shorter than jwks_refresh (2m0s)")
	f(rs(func(ic *IssuerConfig) { ic.JWKSRefresh, ic.JWKSMaxStale = time.Minute, time.Minute }), "")
	f(rs(func(ic *IssuerConfig) { ic.JWKSRefresh = 3 * time.Hour }), "") // the default follows
	f(Config{Issuers: []IssuerConfig{rs(nil).Issuers[0], rs(nil).Issuers[0]}}, `issuers[1].issuer: duplicate issuer "https://rs.example" (also issuers[0])`)
	f(Config{Issuers: []IssuerConfig{rs(func(ic *IssuerConfig) { ic.Name = "x" }).Issuers[0], rs(func(ic *IssuerConfig) { ic.Name = "x"; ic.Issuer = "b" }).Issuers[0]}},
		`issuers[1].name: duplicate name "x" (also issuers[0])`)
}

func TestNewKeyErrors(t *testing.T) {
	k := fixtures()
	f := func(ic IssuerConfig, want string) {
		t.Helper()
		_, err := New(Config{Issuers: []IssuerConfig{ic}}, nil)
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Fatalf("got error %v\nwant prefix %s", err, want)
		}
		// tiercel validate runs LoadKeys: the same refusal, without New.
		if err2 := (Config{Issuers: []IssuerConfig{ic}}).LoadKeys(); err2 == nil || err2.Error() != err.Error() {
			t.Fatalf("LoadKeys: %v\nNew: %v", err2, err)
		}
	}
	rs := func(keys ...KeyConfig) IssuerConfig {
		return IssuerConfig{Issuer: rsIss, Algorithms: []string{"RS256"}, Keys: keys}
	}
	f(rs(KeyConfig{PEMFile: "/nonexistent.pem"}), "issuers[0].keys[0]: cannot load key: open /nonexistent.pem")
	f(rs(KeyConfig{PEMFile: writeFile(t, "x.pem", []byte("junk"))}), "issuers[0].keys[0]: cannot load key: cannot parse")
	f(rs(KeyConfig{PEMFile: writePEM(t, &k.rsa.PublicKey)}, KeyConfig{PEMFile: writePEM(t, &k.p256.PublicKey)}),
		`issuers[0].keys[1]: cannot load key: ECDSA P-256 key "" fits none of algorithms [RS256]`)
	f(rs(KeyConfig{PEMFile: writePEM(t, &k.rsaWeak.PublicKey)}), "issuers[0].keys[0]: cannot load key: cannot use")
	f(rs(KeyConfig{KID: "a", PEMFile: writePEM(t, &k.rsa.PublicKey)}, KeyConfig{JWKFile: writeJWKFile(t, map[string]any{"a": &k.rsa2.PublicKey})}),
		`issuers[0].keys[1]: cannot load key: duplicate RSA key with kid "a"`)
	f(IssuerConfig{Issuer: rsIss, Algorithms: []string{"ES256"}, Keys: []KeyConfig{{PEMFile: writePEM(t, &k.p384.PublicKey)}}},
		`issuers[0].keys[0]: cannot load key: ECDSA P-384 key "" fits none of algorithms [ES256]`)
	f(IssuerConfig{Issuer: rsIss, Algorithms: []string{"RS256", "ES256"}, Keys: []KeyConfig{{PEMFile: writePEM(t, &k.rsa.PublicKey)}}},
		"issuers[0].keys: no key for ES256")
}

func TestJWKFile(t *testing.T) {
	k := fixtures()
	path := writeJWKFile(t, map[string]any{"r1": &k.rsa.PublicKey, "r2": &k.rsa2.PublicKey})
	ic := IssuerConfig{Issuer: rsIss, Algorithms: []string{"RS256"}, Keys: []KeyConfig{{JWKFile: path}}}
	v := newTestVerifier(t, Config{Issuers: []IssuerConfig{ic}}, nil)
	for kid, key := range map[string]any{"r1": k.rsa, "r2": k.rsa2} {
		mustVerify(t, v, signWith(t, "RS256", kid, key, claimsFor(rsIss, time.Now(), nil)))
	}

	// kid selects one key of a set.
	ic.Keys[0].KID = "r2"
	v = newTestVerifier(t, Config{Issuers: []IssuerConfig{ic}}, nil)
	_, err := v.VerifyBearer(bearer([]byte(signWith(t, "RS256", "r1", k.rsa, claimsFor(rsIss, time.Now(), nil)))), time.Time{})
	if r, _ := reasonOf(err); r != ReasonUnknownKID {
		t.Fatalf("got %v, want unknown_kid", err)
	}
}

// TestJWKSMaxStaleDefault: 1h, or jwks_refresh when that is longer, so that a
// config setting only a long refresh stays valid.
func TestJWKSMaxStaleDefault(t *testing.T) {
	f := func(refresh, maxStale, want time.Duration) {
		t.Helper()
		ic := IssuerConfig{JWKSRefresh: refresh, JWKSMaxStale: maxStale}.withDefaults()
		if ic.JWKSMaxStale != want {
			t.Fatalf("refresh %s, max_stale %s: got %s, want %s", refresh, maxStale, ic.JWKSMaxStale, want)
		}
	}
	f(0, 0, time.Hour)
	f(time.Minute, 0, time.Hour)
	f(3*time.Hour, 0, 3*time.Hour)
	f(time.Minute, 2*time.Minute, 2*time.Minute)
}
