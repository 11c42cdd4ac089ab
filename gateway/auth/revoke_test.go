package auth

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"

	"github.com/tiercel/tiercel/internal/testwait"
)

// The issues these tests guard, cited in each test:
//   - issue 13 item 5 (emptied JWKS revokes): a JWKS answering 200
//     {"keys":[]} left the last good keys trusted forever; a well-formed
//     answer must replace the set, cached tokens included, and only a
//     failing fetch may keep the last good set, for jwks_max_stale at most;
//   - the readyz issue (an issuer with no keys is not ready): an issuer
//     whose set is empty or was never fetched must make /readyz 503.

// waitRefetched waits until the JWKS endpoint has served what it serves now
// and the fetch has been recorded: fetches never overlap, so the second one
// to start after the call began after the first one ended.
func waitRefetched(t *testing.T, srv *jwksServer) {
	t.Helper()
	n := srv.hits.Load()
	testwait.For(t, 10*time.Second, "two more JWKS fetches", func() bool { return srv.hits.Load() >= n+2 })
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
		_, err := v.VerifyBearer(bearer(tok), time.Time{})
		wantReason(t, err, ReasonUnknownKID)
		st := v.Status()[0]
		if st.Keys != wantKeys || st.UsableKeys != wantUsable || st.Problem != wantProblem || !st.LastRefreshOK {
			t.Fatalf("status %+v\nwant keys %d, usable %d, problem %q", st, wantKeys, wantUsable, wantProblem)
		}
		if s := v.Stats(); s.JWKSErrors != 0 || s.JWKSKeysRevoked != 1 {
			t.Fatalf("stats %+v: want no error and k1 revoked", s)
		}

		srv.setBody(http.StatusOK, good)
		testwait.For(t, 10*time.Second, "k1 to verify again", func() bool { _, err := v.VerifyBearer(bearer(tok), time.Time{}); return err == nil })
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
	_, err := v.VerifyBearer(bearer([]byte(rsToken(t, "k1", k.rsa, time.Now()))), time.Time{})
	wantReason(t, err, ReasonUnknownKID)
	if st := v.Status()[0]; st.UsableKeys != 1 || st.Problem != "JWKS answered an empty set" {
		t.Fatalf("unexpected status %+v", st)
	}
}

// logRecorder keeps the records logged at error level, for tests that
// check an event is logged once.
type logRecorder struct {
	mu     sync.Mutex
	errors []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		l.mu.Lock()
		l.errors = append(l.errors, r.Message)
		l.mu.Unlock()
	}
	return nil
}

func (l *logRecorder) errorCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.errors)
}

// TestJWKSMaxStale guards issue 13 item 5, second half: a failing endpoint
// keeps the last good set for jwks_max_stale, counted from the last good
// fetch, and no longer: then its keys verify nothing (the cached token
// included, though cache_ttl has not passed), the drop is logged once at
// error level, Status reports no keys, and a good fetch restores
// everything.
func TestJWKSMaxStale(t *testing.T) {
	k := fixtures()
	clock := newFakeClock()
	srv := newJWKSServer(t, map[string]any{"k1": &k.rsa.PublicKey})
	good := srv.body
	cfg := jwksConfig(srv.URL, func(ic *IssuerConfig) {
		ic.JWKSRefresh = 20 * time.Millisecond
		ic.JWKSMaxStale = 10 * time.Minute
	})
	cfg.CacheTTL = time.Hour
	logs := &logRecorder{}
	v, err := newVerifier(cfg, slog.New(logs), clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	lastGood := clock.Now()
	tok := rsToken(t, "k1", k.rsa, clock.Now())
	mustVerify(t, v, tok)

	srv.setBody(http.StatusServiceUnavailable, []byte("down"))
	waitRefetched(t, srv)
	// Within jwks_max_stale: the cached token and a new one still verify.
	clock.Advance(10*time.Minute - time.Second)
	mustVerify(t, v, tok)
	mustVerify(t, v, rsToken(t, "k1", k.rsa, clock.Now()))
	if st := v.Status()[0]; st.UsableKeys != 1 || !strings.HasPrefix(st.Problem, "refresh failing, keeping the last good set until ") {
		t.Fatalf("status while failing %+v", st)
	}
	if st := v.Stats(); st.CacheHits != 1 {
		t.Fatalf("the token was not served from the cache: %+v", st)
	}

	clock.Advance(time.Second)
	_, err = v.VerifyBearer(bearer(tok), time.Time{})
	wantReason(t, err, ReasonKeysStale)
	_, err = v.VerifyBearer(bearer([]byte(rsToken(t, "k1", k.rsa, clock.Now()))), time.Time{})
	wantReason(t, err, ReasonKeysStale)
	st := v.Status()[0]
	if st.Keys != 0 || st.UsableKeys != 0 || !st.StaleSince.Equal(lastGood.Add(10*time.Minute)) ||
		!strings.HasPrefix(st.Problem, "no keys: JWKS stale since ") || !strings.Contains(st.Problem, "unexpected status 503") {
		t.Fatalf("status once stale %+v (last good %s)", st, lastGood)
	}
	testwait.For(t, 10*time.Second, "the drop to be logged", func() bool { return logs.errorCount() == 1 })
	waitRefetched(t, srv)
	if n := logs.errorCount(); n != 1 || v.Stats().JWKSStaleDrops != 1 {
		t.Fatalf("the drop was logged %d times and counted %d times, want once", n, v.Stats().JWKSStaleDrops)
	}

	srv.setBody(http.StatusOK, good)
	testwait.For(t, 10*time.Second, "a good fetch", func() bool { return v.Status()[0].LastRefreshOK })
	mustVerify(t, v, tok)
	if st := v.Status()[0]; st.Problem != "" || !st.StaleSince.IsZero() {
		t.Fatalf("status after recovery %+v", st)
	}
}

// TestJWKSRefreshBeforeStale guards issue 13 item 5's jwks_max_stale from
// the other side: equal to jwks_refresh (the least validation allows), a
// healthy endpoint is refetched before the set goes stale, so the issuer
// never flaps between refreshes.
func TestJWKSRefreshBeforeStale(t *testing.T) {
	k := fixtures()
	srv := newJWKSServer(t, map[string]any{"k1": &k.rsa.PublicKey})
	// A slow endpoint (latency, not synchronisation): refreshed every
	// jwks_refresh, the set would be stale for the 100ms of every fetch.
	slow := httptestServer(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(100 * time.Millisecond)
		srv.Config.Handler.ServeHTTP(w, r)
	})
	v := newTestVerifier(t, jwksConfig(slow, func(ic *IssuerConfig) {
		ic.JWKSRefresh = 500 * time.Millisecond
		ic.JWKSMaxStale = 500 * time.Millisecond
		ic.JWKSTimeout = 300 * time.Millisecond
	}), nil)
	// Never cached: its entry would outlive the set's staleAt, less the
	// clock margin. Every Verify looks the key up.
	tok := []byte(rsToken(t, "k1", k.rsa, time.Now()))
	for deadline := time.Now().Add(1600 * time.Millisecond); time.Now().Before(deadline); {
		if st := v.Status()[0]; st.Problem != "" {
			t.Fatalf("a healthy JWKS went stale between refreshes: %+v", st)
		}
		if _, err := v.VerifyBearer(bearer(tok), time.Time{}); err != nil {
			t.Fatalf("a healthy JWKS refused a token: %v", err)
		}
	}
	if n := srv.hits.Load(); n < 3 {
		t.Fatalf("the JWKS was fetched %d times, want one every 300ms or so (200ms, then the 100ms fetch)", n)
	}
}
