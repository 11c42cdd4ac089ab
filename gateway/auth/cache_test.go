package auth

import (
	"fmt"
	"hash/maphash"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tiercel/tiercel/internal/testwait"
)

func hsConfig() Config {
	return Config{Issuers: []IssuerConfig{{Issuer: hsIss, Algorithms: []string{"HS256"}, Keys: []KeyConfig{{KID: "h1", Secret: testSecret}}}}}
}

func hsToken(t testing.TB, now time.Time, extra jwt.MapClaims) string {
	t.Helper()
	return signWith(t, "HS256", "h1", []byte(testSecret), claimsFor(hsIss, now, extra))
}

func mustVerify(t *testing.T, v *Verifier, tok string) *Principal {
	t.Helper()
	p, err := v.VerifyBearer(bearer(tok), time.Time{})
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	return p
}

func TestCacheHonoursExp(t *testing.T) {
	clock := newFakeClock()
	v := newTestVerifier(t, hsConfig(), clock.Now)
	tok := hsToken(t, clock.Now(), jwt.MapClaims{"exp": clock.Now().Add(time.Minute).Unix()})

	p1 := mustVerify(t, v, tok)
	p2 := mustVerify(t, v, tok)
	if p1 != p2 {
		t.Fatal("second Verify did not come from the cache")
	}
	if st := v.Stats(); st.Verifications != 1 || st.CacheHits != 1 {
		t.Fatalf("unexpected stats %+v", st)
	}

	// Past exp but within the leeway: the entry has expired, so the token is
	// verified again, and is not cached since it is already past exp.
	clock.Advance(time.Minute + 10*time.Second)
	mustVerify(t, v, tok)
	mustVerify(t, v, tok)
	if st := v.Stats(); st.Verifications != 3 {
		t.Fatalf("got %d verifications, want 3", st.Verifications)
	}

	clock.Advance(time.Minute)
	_, err := v.VerifyBearer(bearer(tok), time.Time{})
	if r, _ := reasonOf(err); r != ReasonExpired {
		t.Fatalf("got %v, want expired", err)
	}
}

func TestCacheTTL(t *testing.T) {
	clock := newFakeClock()
	cfg := hsConfig()
	cfg.CacheTTL = time.Minute
	v := newTestVerifier(t, cfg, clock.Now)
	tok := hsToken(t, clock.Now(), nil)

	mustVerify(t, v, tok)
	clock.Advance(59 * time.Second)
	mustVerify(t, v, tok)
	if n := v.Stats().Verifications; n != 1 {
		t.Fatalf("got %d verifications within CacheTTL, want 1", n)
	}
	clock.Advance(2 * time.Second)
	mustVerify(t, v, tok)
	if n := v.Stats().Verifications; n != 2 {
		t.Fatalf("got %d verifications after CacheTTL, want 2", n)
	}
}

func TestVerifyDoesNotRetainToken(t *testing.T) {
	v := newTestVerifier(t, hsConfig(), nil)
	tok := hsToken(t, time.Now(), nil)
	buf := []byte(tok)
	mustVerify(t, v, string(buf))
	p, err := v.VerifyBearer(bearer(buf), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	// The server reuses its buffer for the next request.
	for i := range buf {
		buf[i] = 'A'
	}
	if _, err := v.VerifyBearer(bearer(buf), time.Time{}); err == nil {
		t.Fatal("verified a buffer of As")
	}
	if p2 := mustVerify(t, v, tok); p2 != p {
		t.Fatal("cached entry lost after the caller's buffer was overwritten")
	}
}

func TestCacheBound(t *testing.T) {
	clock := newFakeClock()
	cfg := hsConfig()
	cfg.CacheEntries = 100
	v := newTestVerifier(t, cfg, clock.Now)
	for i := range 1000 {
		mustVerify(t, v, hsToken(t, clock.Now(), jwt.MapClaims{"jti": fmt.Sprint(i)}))
	}
	if n := v.Stats().CacheEntries; n > 100 || n < 50 {
		t.Fatalf("cache holds %d entries, want at most 100 and not emptied", n)
	}
}

func TestTokenCacheEvictsExpiredFirst(t *testing.T) {
	c := newTokenCache(64) // one shard
	p, k := &Principal{}, &key{}
	for i := range 32 {
		c.put(fmt.Sprint("old", i), p, k, 10, 0)
	}
	for i := range 32 {
		c.put(fmt.Sprint("live", i), p, k, 100, 0)
	}
	c.put("new", p, k, 100, 20) // full: the 32 expired entries go, nothing else
	if _, _, n := c.stats(); n != 33 {
		t.Fatalf("got %d entries, want 33", n)
	}
	for i := range 32 {
		if c.get([]byte(fmt.Sprint("live", i)), 20) == nil {
			t.Fatalf("live%d was evicted", i)
		}
	}
	if c.get([]byte("old0"), 5) != nil {
		t.Fatal("expired entry still present")
	}
}

func TestScopesAndRoles(t *testing.T) {
	cfg := hsConfig()
	v := newTestVerifier(t, cfg, nil)
	now := time.Now()
	f := func(extra jwt.MapClaims, scopes, roles []string) {
		t.Helper()
		p := mustVerify(t, v, hsToken(t, now, extra))
		if fmt.Sprint(p.Scopes) != fmt.Sprint(scopes) || fmt.Sprint(p.Roles) != fmt.Sprint(roles) {
			t.Fatalf("got scopes %q roles %q, want %q %q", p.Scopes, p.Roles, scopes, roles)
		}
	}
	f(jwt.MapClaims{"scope": "read  write"}, []string{"read", "write"}, nil)
	f(jwt.MapClaims{"scope": []string{"read", "admin"}}, []string{"read", "admin"}, nil)
	f(jwt.MapClaims{"scp": []string{"a"}, "roles": []string{"r1", "r2"}}, []string{"a"}, []string{"r1", "r2"})
	f(jwt.MapClaims{"scp": "b c", "roles": "r1"}, []string{"b", "c"}, []string{"r1"})
	f(jwt.MapClaims{"scope": "x", "scp": "y"}, []string{"x"}, nil)

	p := &Principal{Scopes: []string{"read", "write"}}
	if !p.HasScopes(nil) || !p.HasScopes([]string{"write"}) || p.HasScopes([]string{"read", "admin"}) {
		t.Fatal("HasScopes is wrong")
	}
}

func TestCustomClaimNames(t *testing.T) {
	cfg := hsConfig()
	cfg.Issuers[0].Claims = ClaimNames{Subject: "uid", Tenant: "org", Scopes: "perms", Roles: "groups", Plan: "tier"}
	v := newTestVerifier(t, cfg, nil)
	p := mustVerify(t, v, hsToken(t, time.Now(), jwt.MapClaims{
		"uid": "u9", "org": "acme", "perms": "a b", "groups": []string{"g"}, "tier": "gold", "scope": "ignored",
	}))
	if p.Subject != "u9" || p.Tenant != "acme" || p.Plan != "gold" || fmt.Sprint(p.Scopes) != "[a b]" || fmt.Sprint(p.Roles) != "[g]" {
		t.Fatalf("unexpected principal %+v", p)
	}
}

func TestStatsCountFailures(t *testing.T) {
	v := newTestVerifier(t, hsConfig(), nil)
	// Every rejection counts, the header's own included: what the gateway
	// calls is VerifyBearer, so an absent header, another scheme, an empty
	// or non-b64token bearer are counted there, not only bad tokens.
	_, _ = v.VerifyBearer(nil, time.Time{})                          // missing
	_, _ = v.VerifyBearer([]byte("Basic dXNlcjpwdw=="), time.Time{}) // malformed: scheme
	_, _ = v.VerifyBearer([]byte("Bearer   "), time.Time{})          // malformed: empty
	_, _ = v.VerifyBearer([]byte("Bearer a,b"), time.Time{})         // malformed: characters
	_, _ = v.VerifyBearer(bearer([]byte("x.y")), time.Time{})        // malformed: shape
	_, _ = v.VerifyBearer(bearer([]byte(hsToken(t, time.Now().Add(-2*time.Hour), nil))), time.Time{})
	st := v.Stats()
	if st.Failures[ReasonMissing] != 1 || st.Failures[ReasonMalformed] != 4 || st.Failures[ReasonExpired] != 1 {
		t.Fatalf("unexpected failures %v", st.Failures)
	}
	for r := range Reason(numReasons) {
		if s := r.String(); s == "unknown" || s == "" {
			t.Fatalf("reason %d has no name", r)
		}
	}
}

func TestCoarseClockAdvances(t *testing.T) {
	v := newTestVerifier(t, hsConfig(), nil)
	start := v.hitNow()
	if d := time.Since(time.Unix(0, start)); d < 0 || d > time.Minute {
		t.Fatalf("coarse clock is %v off", d)
	}
	testwait.For(t, 10*time.Second, "the coarse clock to tick", func() bool { return v.hitNow() > start })
}

func TestVerifyAfterCloseSkipsCache(t *testing.T) {
	v := newTestVerifier(t, hsConfig(), nil)
	tok := hsToken(t, time.Now(), nil)
	mustVerify(t, v, tok)
	mustVerify(t, v, tok)
	v.Close()
	// The stopped clock must not freeze time for cached entries.
	mustVerify(t, v, tok)
	if st := v.Stats(); st.Verifications != 2 || st.CacheHits != 1 {
		t.Fatalf("unexpected stats after Close: %+v", st)
	}
}

// TestTokenCacheHashCollision: entries are found by a 64-bit hash, and a
// token whose hash matches another's must never get the other's Principal.
func TestTokenCacheHashCollision(t *testing.T) {
	c := newTokenCache(64)
	alice, k := &Principal{Subject: "alice"}, &key{}
	c.put("token-a", alice, k, 100, 0)
	// Plant alice's entry under the hash of token-b, as a collision would.
	h := maphash.String(c.seed, "token-b")
	c.shards[h&c.mask].m[h] = cacheEntry{token: "token-a", p: alice, k: k, expires: 100}
	if p := c.get([]byte("token-b"), 1); p != nil {
		t.Fatalf("token-b got %q's principal through a hash collision", p.Subject)
	}
	if p := c.get([]byte("token-a"), 1); p != alice {
		t.Fatal("token-a lost its own entry")
	}
}
