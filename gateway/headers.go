package gateway

import "github.com/valyala/fasthttp"

// Response header names, canonical and as bytes: fasthttp's SetCanonical
// skips the key normalisation that SetBytesV repeats on every call, on
// every hit.
var (
	hdrRequestID          = []byte(headerRequestID)
	hdrServerTiming       = []byte("Server-Timing")
	hdrXCache             = []byte("X-Cache")
	hdrCacheStatus        = []byte("Cache-Status")
	hdrAge                = []byte("Age")
	hdrRateLimitLimit     = []byte("Ratelimit-Limit")
	hdrRateLimitRemaining = []byte("Ratelimit-Remaining")
	hdrRateLimitReset     = []byte("Ratelimit-Reset")
	hdrRetryAfter         = []byte("Retry-After")
	hdrCacheControl       = []byte("Cache-Control")
	cacheStatusBypass     = []byte("tiercel; fwd=bypass")
	noStore               = []byte("no-store")
	retryAfterOne         = []byte("1")
)

// Request header names as fasthttp's parser normalises them, for
// PeekCanonical: Peek copies and normalises the name on every call.
var (
	reqAuthorization = []byte(fasthttp.HeaderAuthorization)
	reqRequestID     = []byte("X-Request-Id")
)
