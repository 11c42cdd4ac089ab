package auth

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/tiercel/tiercel/internal/testwait"
)

func jwksConfig(url string, mod func(*IssuerConfig)) Config {
	ic := IssuerConfig{
		Name:        "idp",
		Issuer:      rsIss,
		Algorithms:  []string{"RS256", "ES256"},
		JWKSURL:     url,
		JWKSRefresh: time.Hour, // tests that need background refreshes shorten it
	}
	if mod != nil {
		mod(&ic)
	}
	return Config{Issuers: []IssuerConfig{ic}}
}

func rsToken(t testing.TB, kid string, key any, now time.Time) string {
	t.Helper()
	return signWith(t, "RS256", kid, key, claimsFor(rsIss, now, nil))
}

func wantReason(t *testing.T, err error, want Reason) {
	t.Helper()
	if r, ok := reasonOf(err); !ok || r != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}

func TestJWKSVerify(t *testing.T) {
	k := fixtures()
	srv := newJWKSServer(t, map[string]any{"k1": &k.rsa.PublicKey, "e1": &k.p256.PublicKey})
	v := newTestVerifier(t, jwksConfig(srv.URL, nil), nil)

	mustVerify(t, v, rsToken(t, "k1", k.rsa, time.Now()))
	mustVerify(t, v, signWith(t, "ES256", "e1", k.p256, claimsFor(rsIss, time.Now(), nil)))
	_, err := v.VerifyBearer(bearer([]byte(rsToken(t, "e1", k.rsa, time.Now()))), time.Time{})
	wantReason(t, err, ReasonAlgorithm)

	st := v.Status()
	if len(st) != 1 || st[0].Name != "idp" || st[0].JWKSURL != srv.URL || st[0].Keys != 2 || !st[0].LastRefreshOK || st[0].LastError != "" || st[0].LastSuccess.IsZero() {
		t.Fatalf("unexpected status %+v", st)
	}
	if n := srv.hits.Load(); n != 1 {
		t.Fatalf("JWKS fetched %d times, want 1", n)
	}
}

func TestJWKSRotation(t *testing.T) {
	k := fixtures()
	clock := newFakeClock()
	srv := newJWKSServer(t, map[string]any{"k1": &k.rsa.PublicKey})
	v := newTestVerifier(t, jwksConfig(srv.URL, nil), clock.Now)
	old := rsToken(t, "k1", k.rsa, clock.Now())
	mustVerify(t, v, old)

	// The issuer rotates to k2: the first token naming k2 triggers a refetch.
	srv.setKeys(t, map[string]any{"k2": &k.rsa2.PublicKey})
	mustVerify(t, v, rsToken(t, "k2", k.rsa2, clock.Now()))
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("JWKS fetched %d times, want 2", n)
	}

	// Another rotation within JWKSUnknownKIDInterval is not fetched...
	srv.setKeys(t, map[string]any{"k3": &k.rsa3.PublicKey})
	k3 := rsToken(t, "k3", k.rsa3, clock.Now())
	_, err := v.VerifyBearer(bearer(k3), time.Time{})
	wantReason(t, err, ReasonUnknownKID)
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("JWKS fetched %d times within the interval, want 2", n)
	}
	// ...until the interval has passed.
	clock.Advance(61 * time.Second)
	mustVerify(t, v, k3)
	if n := srv.hits.Load(); n != 3 {
		t.Fatalf("JWKS fetched %d times, want 3", n)
	}

	// k1 left the set: its cached token is refused at once, not after
	// CacheTTL (issue 13 item 5: keys removed from the set stop verifying at
	// once).
	_, err = v.VerifyBearer(bearer(old), time.Time{})
	wantReason(t, err, ReasonUnknownKID)
	if st := v.Stats(); st.JWKSUnknownKIDRefetches != 2 || st.JWKSRefreshes != 3 || st.JWKSErrors != 0 || st.JWKSKeysRevoked != 2 {
		t.Fatalf("unexpected stats %+v", st)
	}
}

func TestJWKSUnknownKIDFlood(t *testing.T) {
	k := fixtures()
	srv := newJWKSServer(t, map[string]any{"k1": &k.rsa.PublicKey})
	v := newTestVerifier(t, jwksConfig(srv.URL, nil), nil)
	// One signature for all: the kid is checked before the signature.
	const workers, each = 32, 20
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				tok := rsToken(t, rand.Text(), k.rsa, time.Now())
				if _, err := v.VerifyBearer(bearer(tok), time.Time{}); err == nil {
					t.Error("verified a token with a random kid")
				}
			}
		})
	}
	wg.Wait()
	// The fetch at start plus one for the first unknown kid of the interval.
	if n := srv.hits.Load(); n > 2 {
		t.Fatalf("random kids caused %d JWKS fetches, want at most 2", n)
	}
	if n := v.Stats().JWKSUnknownKIDRefetches; n > 1 {
		t.Fatalf("random kids triggered %d refetches, want at most 1", n)
	}
	if n := v.Stats().Failures[ReasonUnknownKID]; n != workers*each {
		t.Fatalf("got %d unknown_kid failures, want %d", n, workers*each)
	}
}

func TestJWKSDownAtStart(t *testing.T) {
	k := fixtures()
	srv := newJWKSServer(t, map[string]any{"k1": &k.rsa.PublicKey})
	good := srv.body
	srv.setBody(http.StatusServiceUnavailable, []byte("down"))
	v := newTestVerifier(t, jwksConfig(srv.URL, func(ic *IssuerConfig) { ic.JWKSRefresh = 20 * time.Millisecond }), nil)

	st := v.Status()[0]
	if st.Keys != 0 || st.LastRefreshOK || !strings.Contains(st.LastError, "503") || !st.LastSuccess.IsZero() {
		t.Fatalf("unexpected status %+v", st)
	}
	tok := rsToken(t, "k1", k.rsa, time.Now())
	_, err := v.VerifyBearer(bearer(tok), time.Time{})
	wantReason(t, err, ReasonKeysUnavailable)

	srv.setBody(http.StatusOK, good)
	testwait.For(t, 10*time.Second, "the JWKS to load", func() bool { return v.Status()[0].LastRefreshOK })
	mustVerify(t, v, tok)
}

func TestJWKSDownMidway(t *testing.T) {
	k := fixtures()
	srv := newJWKSServer(t, map[string]any{"k1": &k.rsa.PublicKey})
	v := newTestVerifier(t, jwksConfig(srv.URL, func(ic *IssuerConfig) { ic.JWKSRefresh = 20 * time.Millisecond }), nil)
	mustVerify(t, v, rsToken(t, "k1", k.rsa, time.Now()))

	f := func(status int, body, wantErr string) {
		t.Helper()
		srv.setBody(status, []byte(body))
		testwait.For(t, 10*time.Second, "a failed refresh", func() bool { return strings.Contains(v.Status()[0].LastError, wantErr) })
		st := v.Status()[0]
		if st.Keys != 1 || st.LastRefreshOK || st.LastSuccess.IsZero() {
			t.Fatalf("unexpected status %+v", st)
		}
		// A token never seen before still verifies with the last good set.
		mustVerify(t, v, signWith(t, "RS256", "k1", k.rsa, claimsFor(rsIss, time.Now(), jwt.MapClaims{"jti": rand.Text()})))
	}
	f(http.StatusInternalServerError, "oops", "unexpected status 500")
	f(http.StatusOK, "{not json", "cannot decode JWKS")
	// Not a JWK Set: a misconfigured endpoint, not a revocation.
	f(http.StatusOK, `{"error":"maintenance"}`, `no "keys" array`)
	f(http.StatusOK, `{"keys":[`+strings.Repeat(`{"kty":"RSA"},`, maxJWKSBytes/14)+`{}]}`, "cannot decode JWKS")
	if st := v.Stats(); st.JWKSErrors == 0 {
		t.Fatalf("no JWKS errors counted: %+v", st)
	}
}

func TestJWKSSkipsUnusableKeys(t *testing.T) {
	k := fixtures()
	srv := newJWKSServer(t, nil)
	var set jwkset.JWKSMarshal
	add := func(kid string, key any, use jwkset.USE) {
		jwk, err := jwkset.NewJWKFromKey(key, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: kid, USE: use}, Marshal: jwkset.JWKMarshalOptions{Private: true}})
		if err != nil {
			t.Fatal(err)
		}
		set.Keys = append(set.Keys, jwk.Marshal())
	}
	add("good", &k.rsa.PublicKey, jwkset.UseSig)
	add("enc", &k.rsa2.PublicKey, jwkset.UseEnc)
	add("weak", &k.rsaWeak.PublicKey, jwkset.UseSig)
	add("oct", []byte(testSecret), jwkset.UseSig)
	add("p384", &k.p384.PublicKey, jwkset.UseSig) // fits no allowed alg; counted but never used
	body, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	srv.setBody(http.StatusOK, body)
	v := newTestVerifier(t, jwksConfig(srv.URL, nil), nil)

	if st := v.Status()[0]; st.Keys != 2 {
		t.Fatalf("loaded %d keys, want good and p384", st.Keys)
	}
	mustVerify(t, v, rsToken(t, "good", k.rsa, time.Now()))
	for kid, key := range map[string]any{"enc": k.rsa2, "weak": k.rsaWeak} {
		_, err := v.VerifyBearer(bearer([]byte(rsToken(t, kid, key, time.Now()))), time.Time{})
		wantReason(t, err, ReasonUnknownKID)
	}
	_, err = v.VerifyBearer(bearer([]byte(signWith(t, "ES384", "p384", k.p384, claimsFor(rsIss, time.Now(), nil)))), time.Time{})
	wantReason(t, err, ReasonAlgorithm)
}

// Not parallel: it counts the process's goroutines.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	k := fixtures()
	srv := newJWKSServer(t, map[string]any{"k1": &k.rsa.PublicKey})
	before := runtime.NumGoroutine()
	cfg := jwksConfig(srv.URL, func(ic *IssuerConfig) { ic.JWKSRefresh = 10 * time.Millisecond })
	cfg.Issuers = append(cfg.Issuers, jwksConfig(srv.URL, func(ic *IssuerConfig) { ic.Name, ic.Issuer = "b", "b" }).Issuers...)
	v, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustVerify(t, v, rsToken(t, "k1", k.rsa, time.Now()))
	testwait.For(t, 10*time.Second, "a background refresh", func() bool { return srv.hits.Load() > 3 })
	v.Close()
	v.Close() // idempotent

	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	for _, fn := range []string{"auth.(*jwksSource)", "auth.(*coarseClock)"} {
		if strings.Contains(stacks, fn) {
			t.Fatalf("%s survived Close:\n%s", fn, stacks)
		}
	}
	testwait.For(t, 10*time.Second, fmt.Sprintf("goroutines back to %d", before), func() bool { return runtime.NumGoroutine() <= before })
	// Known keys still verify after Close; nothing is fetched any more.
	hits := srv.hits.Load()
	mustVerify(t, v, rsToken(t, "k1", k.rsa, time.Now().Add(time.Second)))
	_, err = v.VerifyBearer(bearer([]byte(rsToken(t, "k9", k.rsa, time.Now()))), time.Time{})
	wantReason(t, err, ReasonUnknownKID)
	if srv.hits.Load() != hits {
		t.Fatal("a closed Verifier fetched the JWKS")
	}
}

// TestJWKSUnknownKIDWaitsOnlyUntilDeadline: a hung JWKS endpoint costs a
// request with an unknown kid its budget, not the fetch timeout, and the
// fetch it started still brings the new key for later requests.
func TestJWKSUnknownKIDWaitsOnlyUntilDeadline(t *testing.T) {
	k := fixtures()
	rotated := newJWKSServer(t, map[string]any{"k1": &k.rsa.PublicKey, "k2": &k.rsa.PublicKey})
	initial := newJWKSServer(t, map[string]any{"k1": &k.rsa.PublicKey})
	gate := make(chan struct{})
	var served sync.Mutex
	first := true
	srv := httptestServer(t, func(w http.ResponseWriter, r *http.Request) {
		served.Lock()
		wasFirst := first
		first = false
		served.Unlock()
		if wasFirst {
			initial.Config.Handler.ServeHTTP(w, r)
			return
		}
		select {
		case <-gate: // the endpoint recovers
		case <-r.Context().Done():
			return
		}
		rotated.Config.Handler.ServeHTTP(w, r)
	})
	v := newTestVerifier(t, jwksConfig(srv, func(ic *IssuerConfig) {
		ic.JWKSTimeout = 10 * time.Second
		ic.JWKSUnknownKIDInterval = time.Millisecond
	}), nil)
	tok := []byte(rsToken(t, "k2", k.rsa, time.Now()))

	start := time.Now()
	_, err := v.VerifyBearer(bearer(tok), start.Add(50*time.Millisecond))
	wantReason(t, err, ReasonUnknownKID)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("VerifyDeadline returned after %s: it waited for the hung fetch", d)
	}
	close(gate)
	testwait.For(t, 10*time.Second, "the background refetch to bring k2", func() bool {
		_, err := v.VerifyBearer(bearer(tok), time.Now().Add(50*time.Millisecond))
		return err == nil
	})
}
