package auth

import "time"

// Stats is a snapshot of a Verifier's counters, all cumulative since New.
type Stats struct {
	// CacheHits counts VerifyBearer calls answered from the verified-token cache.
	CacheHits uint64
	// CacheMisses counts well-sized tokens not in the cache (or expired there).
	CacheMisses uint64
	// CacheEntries is the current number of cached tokens.
	CacheEntries int
	// Verifications counts tokens that went through signature verification.
	Verifications uint64
	// Failures counts rejected tokens, indexed by Reason.
	Failures [numReasons]uint64
	// JWKSRefreshes counts JWKS fetches of every issuer, failed ones included.
	JWKSRefreshes uint64
	// JWKSErrors counts failed JWKS fetches.
	JWKSErrors uint64
	// JWKSUnknownKIDRefetches counts fetches triggered by unknown kids.
	JWKSUnknownKIDRefetches uint64
	// JWKSEmptySets counts successful fetches whose set had no usable key
	// (empty, or every key unusable): each revoked every key of its issuer.
	JWKSEmptySets uint64
	// JWKSKeysRevoked counts keys that left their JWKS: the tokens they
	// verified were refused from then on, cached ones included.
	JWKSKeysRevoked uint64
	// JWKSStaleDrops counts the times a last good set outlived
	// jwks_max_stale while fetches failed, and its keys were dropped.
	JWKSStaleDrops uint64
}

// IssuerStatus describes the JWKS of one issuer, for readiness checks.
type IssuerStatus struct {
	Name    string `json:"name"`
	JWKSURL string `json:"jwks_url"`
	// Problem says why the issuer is not fully healthy, "" when it is. It
	// starts with "no keys: " when UsableKeys is 0.
	Problem string `json:"problem,omitempty"`
	// Keys is the number of keys in the set in use: 0 if none was loaded,
	// the last one was empty, or it outlived jwks_max_stale.
	Keys int `json:"keys"`
	// UsableKeys counts the keys, static ones included, that fit one of the
	// issuer's algorithms. At 0 no token of the issuer can verify.
	UsableKeys int `json:"usable_keys"`
	// LastRefresh is when the last fetch ended; zero before the first.
	LastRefresh time.Time `json:"last_refresh"`
	// LastRefreshOK reports whether that fetch succeeded.
	LastRefreshOK bool `json:"last_refresh_ok"`
	// LastSuccess is when a fetch last succeeded; zero if none ever did,
	// in which case the issuer's tokens fail with ReasonKeysUnavailable.
	LastSuccess time.Time `json:"last_success"`
	// LastError is the error of the last fetch, "" if it succeeded.
	LastError string `json:"last_error,omitempty"`
	// StaleSince is when the last good set outlived jwks_max_stale and its
	// keys were dropped (tokens fail with ReasonKeysStale); zero otherwise.
	StaleSince time.Time `json:"stale_since,omitzero"`
}

// Stats returns the counters. It is cheap enough to call per scrape.
func (v *Verifier) Stats() Stats {
	var st Stats
	st.CacheHits, st.CacheMisses, st.CacheEntries = v.cache.stats()
	st.Verifications = v.verifications.Load()
	for i := range st.Failures {
		st.Failures[i] = v.failures[i].Load()
	}
	for _, is := range v.issuers {
		if s := is.jwks; s != nil {
			st.JWKSRefreshes += s.fetches.Load()
			st.JWKSErrors += s.fetchErrors.Load()
			st.JWKSUnknownKIDRefetches += s.unknownKIDFetches.Load()
			st.JWKSEmptySets += s.emptySets.Load()
			st.JWKSKeysRevoked += s.revokedKeys.Load()
			st.JWKSStaleDrops += s.staleDrops.Load()
		}
	}
	return st
}

// Status reports every issuer that has a JWKS URL, in configuration order.
func (v *Verifier) Status() []IssuerStatus {
	var out []IssuerStatus
	for _, is := range v.issuers {
		if is.jwks != nil {
			out = append(out, is.jwks.status(is.static))
		}
	}
	return out
}
