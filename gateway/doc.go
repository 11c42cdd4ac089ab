// Package gateway is Tiercel's HTTP edge: the fasthttp server, routing, JWT
// authentication, rate limiting, proxying to upstream pools, the JSON error
// format, and the admin listener (health, readiness, metrics, pprof).
//
// The request path is: accept → route → authenticate → rate limit → upstream
// → respond, with the deadline fixed once at the edge from the route's budget.
// Sub-packages hold one concept each (router, auth, ratelimit, upstream,
// conntimeout, reqtarget, and httpcache and byterange for the HTTP cache
// policy) and never import this package.
//
// The gateway builds every component from its Config, in assemble.go, and
// not cmd/tiercel: a reload builds the next generation's components and
// keeps those whose settings did not change, which only the code that
// holds both configs can decide.
//
// It must never let a panic reach a client, never answer an error with
// anything but the JSON error shape, never keep a RequestCtx or its byte
// slices after a handler returns, and never allocate on the hot path of a
// cached token and an existing rate-limit bucket.
package gateway
