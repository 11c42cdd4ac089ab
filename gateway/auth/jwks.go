package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"golang.org/x/time/rate"
)

// maxJWKSBytes bounds a JWKS response: real sets are a few KiB, and a broken
// or hostile endpoint must not make us buffer without limit.
const maxJWKSBytes = 1 << 20

// firstRetry is the first back-off after a failed fetch; it doubles up to the
// refresh interval, so a JWKS that is down at start is picked up quickly.
const firstRetry = time.Second

// jwksSource keeps one issuer's remote JWK Set. jwkset's own HTTP storage is
// not used because its refresh goroutine cannot be joined on Close, it does
// not report successful refreshes (Status needs them), and its unknown-kid
// refresh blocks the request on the rate limiter instead of failing fast.
type jwksSource struct {
	name, url string
	algs      []string
	client    *http.Client
	refresh   time.Duration
	timeout   time.Duration
	// limiter allows the refetches triggered by unknown kids; background
	// refreshes do not use it.
	limiter *rate.Limiter
	logger  *slog.Logger
	now     func() time.Time
	// ctx is cancelled by Verifier.Close, ending any fetch in flight.
	ctx context.Context
	// wg is the Verifier's: refetches started for unknown kids run in
	// the background and Close waits for them.
	wg *sync.WaitGroup

	// keys is nil until the first successful fetch; it is then only ever
	// replaced by another good set, so a failing endpoint keeps the last one.
	keys atomic.Pointer[keySet]

	mu          sync.Mutex
	inflight    *fetchCall // so the endpoint never sees two fetches at once
	lastAttempt time.Time
	lastSuccess time.Time
	lastErr     string
	failures    int // consecutive

	fetches           atomic.Uint64
	fetchErrors       atomic.Uint64
	unknownKIDFetches atomic.Uint64
}

type fetchCall struct {
	done chan struct{}
	err  error
}

func newJWKSSource(ctx context.Context, ic IssuerConfig, client *http.Client, logger *slog.Logger, now func() time.Time) *jwksSource {
	return &jwksSource{
		name:    ic.Name,
		url:     ic.JWKSURL,
		algs:    ic.Algorithms,
		client:  client,
		refresh: ic.JWKSRefresh,
		timeout: ic.JWKSTimeout,
		limiter: rate.NewLimiter(rate.Every(ic.JWKSUnknownKIDInterval), 1),
		logger:  logger.With("issuer", ic.Name, "jwks_url", ic.JWKSURL),
		now:     now,
		ctx:     ctx,
	}
}

// run fetches at once, signals firstDone, then refreshes until stop closes.
func (s *jwksSource) run(stop <-chan struct{}, firstDone chan<- struct{}) {
	_ = s.fetch()
	close(firstDone)
	t := time.NewTimer(s.nextDelay())
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			_ = s.fetch()
			t.Reset(s.nextDelay())
		}
	}
}

func (s *jwksSource) nextDelay() time.Duration {
	s.mu.Lock()
	failures := s.failures
	s.mu.Unlock()
	if failures == 0 {
		return s.refresh
	}
	d := firstRetry << min(failures-1, 20)
	return min(d, s.refresh)
}

// refetchForUnknownKID is called on the request path when a token names a
// kid we do not have. It joins the fetch in flight (unless the last one
// failed), or starts one in the background if the limiter allows, and
// waits for it until deadline (zero: no limit); otherwise it returns at
// once and the token is rejected. A slow or hung JWKS endpoint therefore
// costs at most one request per jwks_unknown_kid_interval its budget.
func (s *jwksSource) refetchForUnknownKID(deadline time.Time) {
	s.mu.Lock()
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		return // closed: never fetch again
	}
	c := s.inflight
	if c != nil && s.failures > 0 {
		// The endpoint is failing: a request that joined the fetch in
		// flight would most likely spend its budget to learn nothing.
		s.mu.Unlock()
		return
	}
	started := false
	if c == nil && s.limiter.AllowN(s.now(), 1) {
		c, started = s.beginLocked(), true
		s.wg.Add(1) // under mu: see Verifier.Close
	}
	s.mu.Unlock()
	if c == nil {
		return
	}
	if started {
		s.unknownKIDFetches.Add(1)
		go func() {
			defer s.wg.Done()
			s.complete(c)
		}()
	}
	if deadline.IsZero() {
		<-c.done
		return
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-c.done:
	case <-t.C:
	}
}

// fetch downloads the set once, or waits for the download in flight.
func (s *jwksSource) fetch() error {
	s.mu.Lock()
	if c := s.inflight; c != nil {
		s.mu.Unlock()
		<-c.done
		return c.err
	}
	c := s.beginLocked()
	s.mu.Unlock()
	s.complete(c)
	return c.err
}

// beginLocked registers a new fetch in flight; s.mu is held.
func (s *jwksSource) beginLocked() *fetchCall {
	c := &fetchCall{done: make(chan struct{})}
	s.inflight = c
	return c
}

// complete downloads the set for c and publishes the outcome.
func (s *jwksSource) complete(c *fetchCall) {
	set, err := s.download()
	s.record(set, err)
	c.err = err
	close(c.done)
}

// record publishes the outcome of a fetch; a failure keeps the last good set.
// The new set is stored before inflight is cleared, so that a request that
// finds no fetch in flight also finds the keys of the last one.
func (s *jwksSource) record(set *keySet, err error) {
	s.fetches.Add(1)
	var old *keySet
	s.mu.Lock()
	s.lastAttempt = s.now()
	if err != nil {
		s.failures++
		s.lastErr = err.Error()
	} else {
		old = s.keys.Swap(set)
		s.failures = 0
		s.lastErr = ""
		s.lastSuccess = s.lastAttempt
	}
	s.inflight = nil
	failures := s.failures
	s.mu.Unlock()

	switch {
	case err == nil && (old == nil || old.size() != set.size()):
		s.logger.Info("loaded JWKS", "keys", set.size())
	case err != nil:
		s.fetchErrors.Add(1)
		if s.ctx.Err() == nil { // not merely cut short by Close
			s.logger.Warn("cannot refresh JWKS; keeping the last good key set", "error", err, "failures", failures)
		}
	}
}

func (s *jwksSource) download() (*keySet, error) {
	ctx, cancel := context.WithTimeout(s.ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, fmt.Errorf("cannot build JWKS request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot fetch JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("cannot fetch JWKS: unexpected status %d", resp.StatusCode)
	}
	var m jwkset.JWKSMarshal
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxJWKSBytes)).Decode(&m); err != nil {
		return nil, fmt.Errorf("cannot decode JWKS: %w", err)
	}
	return s.parse(m)
}

// parse skips keys we cannot or must not use (symmetric, encryption, weak,
// unknown types) rather than failing the whole set, but an empty result is
// an error: a broken endpoint serving {"keys":[]} must not lock everyone out.
func (s *jwksSource) parse(m jwkset.JWKSMarshal) (*keySet, error) {
	keys := make([]*key, 0, len(m.Keys))
	for i, km := range m.Keys {
		k, err := s.parseOne(km)
		if err != nil {
			s.logger.Warn("skipping JWKS key", "index", i, "kid", km.KID, "error", err)
			continue
		}
		if k != nil {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("cannot use JWKS: none of its %d keys is usable", len(m.Keys))
	}
	return newKeySet(keys, s.algs), nil
}

func (s *jwksSource) parseOne(km jwkset.JWKMarshal) (*key, error) {
	if km.KTY == jwkset.KtyOct {
		return nil, errors.New("symmetric keys are never taken from a JWKS URL")
	}
	// Private: false drops any private material a careless endpoint serves.
	jwk, err := jwkset.NewJWKFromMarshal(km, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
	if err != nil {
		return nil, err
	}
	return keyFromJWK(jwk, km.KID)
}

func (s *jwksSource) status() IssuerStatus {
	st := IssuerStatus{Name: s.name, JWKSURL: s.url}
	if set := s.keys.Load(); set != nil {
		st.Keys = set.size()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st.LastRefresh = s.lastAttempt
	st.LastSuccess = s.lastSuccess
	st.LastError = s.lastErr
	st.LastRefreshOK = !s.lastAttempt.IsZero() && s.lastErr == ""
	return st
}
