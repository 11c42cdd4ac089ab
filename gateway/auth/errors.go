package auth

// Reason says why a token was rejected. Its String is a stable snake_case
// name used as a metric label and as the error code sent to clients.
type Reason uint8

const (
	// ReasonMissing: no token at all.
	ReasonMissing Reason = iota
	// ReasonMalformed: not a syntactically valid JWT, or a claim has the wrong type.
	ReasonMalformed
	// ReasonTooLarge: longer than Config.MaxTokenBytes; rejected before parsing.
	ReasonTooLarge
	// ReasonBadSignature: the signature does not verify.
	ReasonBadSignature
	// ReasonAlgorithm: alg not in the issuer's allow-list, unknown, or not
	// matching the type of the key named by kid.
	ReasonAlgorithm
	// ReasonExpired: exp is in the past (beyond the leeway).
	ReasonExpired
	// ReasonNotYetValid: nbf or iat is in the future (beyond the leeway).
	ReasonNotYetValid
	// ReasonIssuer: iss is missing or not a configured issuer.
	ReasonIssuer
	// ReasonAudience: aud contains none of the issuer's audiences.
	ReasonAudience
	// ReasonUnknownKID: no key with the token's kid, even after a JWKS refetch,
	// or no kid and the issuer has more than one key for the alg.
	ReasonUnknownKID
	// ReasonKeysUnavailable: the issuer's JWKS has never been loaded.
	ReasonKeysUnavailable
	// ReasonKeysStale: the issuer's JWKS has failed to load for longer than
	// its jwks_max_stale, so the keys of the last good set are no longer
	// trusted.
	ReasonKeysStale

	numReasons
)

var reasonNames = [numReasons]string{
	ReasonMissing:         "missing",
	ReasonMalformed:       "malformed",
	ReasonTooLarge:        "too_large",
	ReasonBadSignature:    "bad_signature",
	ReasonAlgorithm:       "algorithm",
	ReasonExpired:         "expired",
	ReasonNotYetValid:     "not_yet_valid",
	ReasonIssuer:          "issuer",
	ReasonAudience:        "audience",
	ReasonUnknownKID:      "unknown_kid",
	ReasonKeysUnavailable: "keys_unavailable",
	ReasonKeysStale:       "keys_stale",
}

func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// Error is the only error type VerifyBearer returns.
type Error struct {
	Reason Reason
	// Err gives the detail for logs; it is nil for the reasons that need none.
	Err error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return "invalid token: " + e.Reason.String()
	}
	return "invalid token: " + e.Reason.String() + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Preallocated so that rejecting junk (floods of empty, oversized or
// malformed tokens) allocates nothing. Never mutate them.
var (
	errMissing   = &Error{Reason: ReasonMissing}
	errTooLarge  = &Error{Reason: ReasonTooLarge}
	errMalformed = &Error{Reason: ReasonMalformed}
)
