package auth

import (
	"fmt"
	"strings"
	"time"
)

// What a fetch's outcome does to the trust in an issuer's JWKS keys. A
// well-formed answer replaces the set, whatever it holds: an issuer revokes
// keys by removing them, all of them by answering {"keys":[]}, and those
// keys stop verifying at once, cached tokens included (see revoke.go). A
// failed fetch keeps the last good set, but only until its staleAt, the
// fetch that brought it plus jwks_max_stale: an endpoint that is down
// cannot be told from one that revokes, so its keys are not trusted
// forever. No timer drops them: every lookup compares staleAt with its
// clock (keySet.trustedAt), and the refresher only logs and counts the drop.

// recordSuccess publishes the set of a well-formed answer, whatever it
// holds, and revokes the keys it no longer lists. The set is stored before
// inflight is cleared, so that a request that finds no fetch in flight also
// finds the keys of the last one.
func (s *jwksSource) recordSuccess(doc jwksDoc) {
	s.fetches.Add(1)
	s.mu.Lock()
	now := s.now()
	old := s.keys.Load()
	set := newKeySet(adopt(doc.keys, old), s.algs)
	set.staleAt = now.Add(s.maxStale).UnixNano()
	s.keys.Store(set)
	revoked := revokeMissing(old, set)
	wasStale := s.staleLogged
	s.lastAttempt, s.lastSuccess = now, now
	s.lastErr, s.failures, s.listed, s.staleLogged = "", 0, doc.listed, false
	s.inflight = nil
	s.mu.Unlock()

	s.revokedKeys.Add(uint64(len(revoked)))
	if len(revoked) > 0 {
		s.logger.Info("JWKS no longer lists keys; the tokens they verified are refused, cached ones included", "kids", revoked)
	}
	switch {
	case set.usable == 0:
		s.emptySets.Add(1)
		s.logger.Warn("JWKS has no usable key; the issuer's tokens are refused until it lists one", "listed", doc.listed)
	case wasStale || old == nil || old.size() != set.size():
		s.logger.Info("loaded JWKS", "keys", set.size())
	}
}

// recordFailure keeps the last good set. The first failure after that set
// outlived jwks_max_stale logs, once, that its keys are no longer trusted:
// lookups stop using them at staleAt on their own (keySet.trustedAt).
func (s *jwksSource) recordFailure(err error) {
	s.fetches.Add(1)
	s.fetchErrors.Add(1)
	s.mu.Lock()
	now := s.now()
	s.lastAttempt = now
	s.failures++
	s.lastErr = err.Error()
	set := s.keys.Load()
	stale := set != nil && set.trustedAt(now.UnixNano()) == nil
	newlyStale := stale && !s.staleLogged
	s.staleLogged = s.staleLogged || stale
	s.inflight = nil
	failures, lastSuccess := s.failures, s.lastSuccess
	s.mu.Unlock()

	if newlyStale {
		s.staleDrops.Add(1)
	}
	if s.ctx.Err() != nil {
		return // merely cut short by Close
	}
	switch {
	case set == nil:
		s.logger.Warn("cannot fetch JWKS; the issuer's tokens are refused until a fetch succeeds", "error", err, "failures", failures)
	case newlyStale:
		s.logger.Error("JWKS stale: no successful fetch within jwks_max_stale; its keys are dropped and the issuer's tokens refused until a fetch succeeds",
			"error", err, "last_success", lastSuccess, "jwks_max_stale", s.maxStale)
	case stale:
		s.logger.Warn("cannot refresh stale JWKS", "error", err, "failures", failures)
	default:
		s.logger.Warn("cannot refresh JWKS; keeping the last good key set", "error", err, "failures", failures, "until", time.Unix(0, set.staleAt))
	}
}

// status reports the source; static are its issuer's static keys, which
// count towards UsableKeys.
func (s *jwksSource) status(static *keySet) IssuerStatus {
	now := s.now()
	st := IssuerStatus{Name: s.name, JWKSURL: s.url, UsableKeys: static.usable}
	s.mu.Lock()
	defer s.mu.Unlock()
	st.LastRefresh = s.lastAttempt
	st.LastSuccess = s.lastSuccess
	st.LastError = s.lastErr
	st.LastRefreshOK = !s.lastAttempt.IsZero() && s.lastErr == ""
	set := s.keys.Load()
	switch {
	case set == nil:
		st.Problem = "JWKS never loaded"
		if s.lastErr != "" {
			st.Problem += ": " + s.lastErr
		}
	case set.trustedAt(now.UnixNano()) == nil:
		st.StaleSince = time.Unix(0, set.staleAt)
		st.Problem = fmt.Sprintf("JWKS stale since %s (no successful fetch within jwks_max_stale %s): %s",
			st.StaleSince.UTC().Format(time.RFC3339), s.maxStale, s.lastErr)
	default:
		st.Keys = set.size()
		st.UsableKeys += set.usable
		st.Problem = s.setProblem(set)
	}
	if st.UsableKeys == 0 {
		st.Problem = "no keys: " + st.Problem
	}
	return st
}

// setProblem describes a trusted set's trouble, if any; s.mu is held.
func (s *jwksSource) setProblem(set *keySet) string {
	var p []string
	switch {
	case s.listed == 0:
		p = append(p, "JWKS answered an empty set")
	case set.usable == 0:
		p = append(p, fmt.Sprintf("JWKS answered %d keys, none usable with %v", s.listed, s.algs))
	}
	if s.lastErr != "" {
		p = append(p, fmt.Sprintf("refresh failing, keeping the last good set until %s: %s",
			time.Unix(0, set.staleAt).UTC().Format(time.RFC3339), s.lastErr))
	}
	return strings.Join(p, "; ")
}
