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
	maxStale  time.Duration
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

	// keys is nil until the first successful fetch; it is then replaced by
	// the set of every well-formed answer, an empty one included: emptying
	// the JWKS is how an issuer revokes. A failing endpoint keeps the last
	// set, trusted until its staleAt only.
	keys atomic.Pointer[keySet]

	mu          sync.Mutex
	inflight    *fetchCall // so the endpoint never sees two fetches at once
	lastAttempt time.Time
	lastSuccess time.Time
	lastErr     string
	failures    int  // consecutive
	listed      int  // keys the last good answer listed, usable or not
	staleLogged bool // the error for the set going stale is logged once

	fetches           atomic.Uint64
	fetchErrors       atomic.Uint64
	unknownKIDFetches atomic.Uint64
	emptySets         atomic.Uint64
	staleDrops        atomic.Uint64
	revokedKeys       atomic.Uint64
}

type fetchCall struct {
	done chan struct{}
	err  error
}

func newJWKSSource(ctx context.Context, ic IssuerConfig, client *http.Client, logger *slog.Logger, now func() time.Time) *jwksSource {
	return &jwksSource{
		name:     ic.Name,
		url:      ic.JWKSURL,
		algs:     ic.Algorithms,
		client:   client,
		refresh:  ic.JWKSRefresh,
		timeout:  ic.JWKSTimeout,
		maxStale: ic.JWKSMaxStale,
		limiter:  rate.NewLimiter(rate.Every(ic.JWKSUnknownKIDInterval), 1),
		logger:   logger.With("issuer", ic.Name, "jwks_url", ic.JWKSURL),
		now:      now,
		ctx:      ctx,
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

// nextDelay is the refresh interval, or the back-off after failures, but
// never later than one fetch timeout before the set goes stale: with
// jwks_max_stale equal to jwks_refresh, every refresh would otherwise land
// just after the set expired.
func (s *jwksSource) nextDelay() time.Duration {
	s.mu.Lock()
	failures := s.failures
	s.mu.Unlock()
	d := s.refresh
	if failures > 0 {
		d = min(firstRetry<<min(failures-1, 20), s.refresh)
	}
	if set := s.keys.Load(); set != nil {
		if left := time.Duration(set.staleAt-s.now().UnixNano()) - s.timeout; left > 0 {
			d = min(d, left)
		}
	}
	return d
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
	doc, err := s.download()
	if err != nil {
		s.recordFailure(err)
	} else {
		s.recordSuccess(doc)
	}
	c.err = err
	close(c.done)
}

// jwksDoc is a well-formed JWKS answer: the keys we can use out of listed.
type jwksDoc struct {
	keys   []*key
	listed int
}

// download fetches and parses the set. Only a 200 whose body is a JSON
// object with a "keys" array is an answer; anything else is a failure,
// which keeps the last good set.
func (s *jwksSource) download() (jwksDoc, error) {
	ctx, cancel := context.WithTimeout(s.ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return jwksDoc{}, fmt.Errorf("cannot build JWKS request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return jwksDoc{}, fmt.Errorf("cannot fetch JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return jwksDoc{}, fmt.Errorf("cannot fetch JWKS: unexpected status %d", resp.StatusCode)
	}
	var m jwkset.JWKSMarshal
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxJWKSBytes)).Decode(&m); err != nil {
		return jwksDoc{}, fmt.Errorf("cannot decode JWKS: %w", err)
	}
	if m.Keys == nil {
		// {} or {"error":...} from a misconfigured endpoint is not a set
		// that revokes every key (RFC 7517 section 5: "keys" is required).
		return jwksDoc{}, errors.New(`cannot decode JWKS: no "keys" array`)
	}
	return jwksDoc{keys: s.parse(m), listed: len(m.Keys)}, nil
}

// parse skips keys we cannot or must not use (symmetric, encryption, weak,
// unknown types) rather than failing the whole set. The result may be
// empty: a set whose keys are all gone or unusable revokes them all.
func (s *jwksSource) parse(m jwkset.JWKSMarshal) []*key {
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
	return keys
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
