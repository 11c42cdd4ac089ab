package auth

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
)

// The issues these tests guard, cited in each test:
//   - issue 13 item 5 (emptied JWKS revokes): a JWKS answering 200
//     {"keys":[]} left the last good keys trusted forever; a well-formed
//     answer must replace the set, cached tokens included, and only a
//     failing fetch may keep the last good set;
//   - the readyz issue (an issuer with no keys is not ready): an issuer
//     whose set is empty or was never fetched must make /readyz 503.

// waitRefetched waits until the JWKS endpoint has served what it serves now
// and the fetch has been recorded: fetches never overlap, so the second one
// to start after the call began after the first one ended.
func waitRefetched(t *testing.T, srv *jwksServer) {
	t.Helper()
	n := srv.hits.Load()
	waitFor(t, "two more JWKS fetches", func() bool { return srv.hits.Load() >= n+2 })
}

// testJWK is one key of a JWK Set built by jwksBody.
type testJWK struct {
	kid string
	key any
	use jwkset.USE
}

// jwksBody marshals keys as a JWK Set, private and symmetric ones included.
func jwksBody(t *testing.T, keys ...testJWK) []byte {
	t.Helper()
	set := jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{}}
	for _, k := range keys {
		jwk, err := jwkset.NewJWKFromKey(k.key, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: k.kid, USE: k.use}, Marshal: jwkset.JWKMarshalOptions{Private: true}})
		if err != nil {
			t.Fatal(err)
		}
		set.Keys = append(set.Keys, jwk.Marshal())
	}
	body, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// TestJWKSAnswerReplacesSet guards issue 13 item 5 (emptied JWKS revokes):
// a 200 with a well-formed set replaces the keys even when it leaves none
// usable, and a token verified before, now in the cache, is refused at the
// next refresh, not after cache_ttl; listing its key again restores it. It
// also guards the readyz issue: Status says the issuer has no usable key.
func TestJWKSAnswerReplacesSet(t *testing.T) {
	k := fixtures()
	f := func(body []byte, wantKeys, wantUsable int, wantProblem string) {
		t.Helper()
		srv := newJWKSServer(t, map[string]any{"k1": &k.rsa.PublicKey})
		good := srv.body
		v := newTestVerifier(t, jwksConfig(srv.URL, func(ic *IssuerConfig) { ic.JWKSRefresh = 20 * time.Millisecond }), nil)
		tok := rsToken(t, "k1", k.rsa, time.Now())
		mustVerify(t, v, tok)
		mustVerify(t, v, tok)
		if st := v.Stats(); st.CacheHits != 1 {
			t.Fatalf("the token is not cached: %+v", st)
		}

		srv.setBody(http.StatusOK, body)
		waitRefetched(t, srv)
		_, err := v.Verify([]byte(tok))
		wantReason(t, err, ReasonUnknownKID)
		st := v.Status()[0]
		if st.Keys != wantKeys || st.UsableKeys != wantUsable || st.Problem != wantProblem || !st.LastRefreshOK {
			t.Fatalf("status %+v\nwant keys %d, usable %d, problem %q", st, wantKeys, wantUsable, wantProblem)
		}
		if s := v.Stats(); s.JWKSErrors != 0 || s.JWKSKeysRevoked != 1 {
			t.Fatalf("stats %+v: want no error and k1 revoked", s)
		}

		srv.setBody(http.StatusOK, good)
		waitFor(t, "k1 to verify again", func() bool { _, err := v.Verify([]byte(tok)); return err == nil })
		if st := v.Status()[0]; st.Problem != "" || st.UsableKeys != 1 {
			t.Fatalf("status after recovery %+v", st)
		}
	}
	f([]byte(`{"keys":[]}`), 0, 0, "no keys: JWKS answered an empty set")
	// Skipped (weak, symmetric, for encryption) or fitting neither RS256 nor
	// ES256 (p384, counted in keys): nothing verifies.
	f(jwksBody(t,
		testJWK{"weak", &k.rsaWeak.PublicKey, jwkset.UseSig},
		testJWK{"oct", []byte(testSecret), jwkset.UseSig},
		testJWK{"enc", &k.rsa2.PublicKey, jwkset.UseEnc},
		testJWK{"p384", &k.p384.PublicKey, jwkset.UseSig},
	), 1, 0, "no keys: JWKS answered 4 keys, none usable with [RS256 ES256]")
	// A rotation that drops k1: the issuer has keys, k1's tokens are refused.
	f(jwksBody(t, testJWK{"k2", &k.rsa2.PublicKey, jwkset.UseSig}), 1, 1, "")
}

// TestJWKSEmptySetKeepsStaticKeys guards the readyz issue from the other
// side: static keys count, so an issuer whose JWKS empties still verifies
// the tokens they sign (cached ones too) and is only degraded.
func TestJWKSEmptySetKeepsStaticKeys(t *testing.T) {
	k := fixtures()
	srv := newJWKSServer(t, map[string]any{"k1": &k.rsa.PublicKey})
	v := newTestVerifier(t, jwksConfig(srv.URL, func(ic *IssuerConfig) {
		ic.JWKSRefresh = 20 * time.Millisecond
		ic.Keys = []KeyConfig{{KID: "s1", PEMFile: writePEM(t, &k.rsa3.PublicKey)}}
	}), nil)
	static := rsToken(t, "s1", k.rsa3, time.Now())
	mustVerify(t, v, static)

	srv.setBody(http.StatusOK, []byte(`{"keys":[]}`))
	waitRefetched(t, srv)
	mustVerify(t, v, static)
	if st := v.Stats(); st.CacheHits != 1 {
		t.Fatalf("the static key's cached token was dropped: %+v", st)
	}
	_, err := v.Verify([]byte(rsToken(t, "k1", k.rsa, time.Now())))
	wantReason(t, err, ReasonUnknownKID)
	if st := v.Status()[0]; st.UsableKeys != 1 || st.Problem != "JWKS answered an empty set" {
		t.Fatalf("unexpected status %+v", st)
	}
}
