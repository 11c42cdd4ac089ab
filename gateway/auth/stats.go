package auth

import "time"

// Stats is a snapshot of a Verifier's counters, all cumulative since New.
type Stats struct {
	// CacheHits counts Verify calls answered from the verified-token cache.
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
}

// IssuerStatus describes the JWKS of one issuer, for readiness checks.
type IssuerStatus struct {
	Name    string `json:"name"`
	JWKSURL string `json:"jwks_url"`
	// Keys is the number of keys in the last good set; 0 if none was loaded.
	Keys int `json:"keys"`
	// LastRefresh is when the last fetch ended; zero before the first.
	LastRefresh time.Time `json:"last_refresh"`
	// LastRefreshOK reports whether that fetch succeeded.
	LastRefreshOK bool `json:"last_refresh_ok"`
	// LastSuccess is when a fetch last succeeded; zero if none ever did,
	// in which case the issuer's tokens fail with ReasonKeysUnavailable.
	LastSuccess time.Time `json:"last_success"`
	// LastError is the error of the last fetch, "" if it succeeded.
	LastError string `json:"last_error,omitempty"`
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
		}
	}
	return st
}

// Status reports every issuer that has a JWKS URL, in configuration order.
func (v *Verifier) Status() []IssuerStatus {
	var out []IssuerStatus
	for _, is := range v.issuers {
		if is.jwks != nil {
			out = append(out, is.jwks.status())
		}
	}
	return out
}
