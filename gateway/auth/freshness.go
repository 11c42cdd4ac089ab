package auth

import (
	"fmt"
	"strings"
)

// What a fetch's outcome does to the trust in an issuer's JWKS keys. A
// well-formed answer replaces the set, whatever it holds: an issuer revokes
// keys by removing them, all of them by answering {"keys":[]}, and those
// keys stop verifying at once, cached tokens included (see revoke.go). A
// failed fetch keeps the last good set.

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
	s.keys.Store(set)
	revoked := revokeMissing(old, set)
	s.lastAttempt, s.lastSuccess = now, now
	s.lastErr, s.failures, s.listed = "", 0, doc.listed
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
	case old == nil || old.size() != set.size():
		s.logger.Info("loaded JWKS", "keys", set.size())
	}
}

// recordFailure keeps the last good set.
func (s *jwksSource) recordFailure(err error) {
	s.fetches.Add(1)
	s.fetchErrors.Add(1)
	s.mu.Lock()
	s.lastAttempt = s.now()
	s.failures++
	s.lastErr = err.Error()
	set := s.keys.Load()
	s.inflight = nil
	failures := s.failures
	s.mu.Unlock()

	if s.ctx.Err() != nil {
		return // merely cut short by Close
	}
	if set == nil {
		s.logger.Warn("cannot fetch JWKS; the issuer's tokens are refused until a fetch succeeds", "error", err, "failures", failures)
		return
	}
	s.logger.Warn("cannot refresh JWKS; keeping the last good key set", "error", err, "failures", failures)
}

// status reports the source; static are its issuer's static keys, which
// count towards UsableKeys.
func (s *jwksSource) status(static *keySet) IssuerStatus {
	st := IssuerStatus{Name: s.name, JWKSURL: s.url, UsableKeys: static.usable}
	s.mu.Lock()
	defer s.mu.Unlock()
	st.LastRefresh = s.lastAttempt
	st.LastSuccess = s.lastSuccess
	st.LastError = s.lastErr
	st.LastRefreshOK = !s.lastAttempt.IsZero() && s.lastErr == ""
	if set := s.keys.Load(); set == nil {
		st.Problem = "JWKS never loaded"
		if s.lastErr != "" {
			st.Problem += ": " + s.lastErr
		}
	} else {
		st.Keys = set.size()
		st.UsableKeys += set.usable
		st.Problem = s.setProblem(set)
	}
	if st.UsableKeys == 0 {
		st.Problem = "no keys: " + st.Problem
	}
	return st
}

// setProblem describes a set's trouble, if any; s.mu is held.
func (s *jwksSource) setProblem(set *keySet) string {
	var p []string
	switch {
	case s.listed == 0:
		p = append(p, "JWKS answered an empty set")
	case set.usable == 0:
		p = append(p, fmt.Sprintf("JWKS answered %d keys, none usable with %v", s.listed, s.algs))
	}
	if s.lastErr != "" {
		p = append(p, "refresh failing, keeping the last good set: "+s.lastErr)
	}
	return strings.Join(p, "; ")
}
