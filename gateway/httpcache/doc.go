// Package httpcache is the HTTP caching policy of a shared cache, as RFC
// 9111 defines it:
//
//   - the cache key's layout (key.go): which parts of a request select a
//     response, length-prefixed so none can pass for another;
//   - the storage policy (policy.go, directives.go, targeted.go): reading
//     Cache-Control, targeted fields, Vary, Age, Date and Expires, computing
//     a response's freshness lifetime and age (freshness.go, date.go), and
//     deciding whether it may be stored and served stale;
//   - a request's own directives (request.go);
//   - the stored-response codec (stored.go): the bytes a cache entry holds
//     and the response they are served as, updated by a 304;
//   - conditional requests answered from a stored response (conditional.go);
//   - invalidation by unsafe methods: the path tag that names every keyed
//     variant of a URI (pathtag.go), and which Location and
//     Content-Location URIs a write invalidates with its target (unsafe.go).
//
// The gateway's cached routes ask it; the tiered store (package cache)
// keeps what it allows; byte ranges of a stored response are package
// byterange's.
//
// It knows nothing of servers, routes or the store: request and response
// headers and the times of one exchange in, a decision or bytes out; paths
// are in reqtarget's normal form. It must never import gateway, never decide that something may be shared
// that a response marks otherwise (no-store, private, Set-Cookie, Vary on
// what the key ignores), and reads every list-valued field as all its
// field lines (RFC 9110 §5.3). Building a key and serving a stored
// response allocate nothing (gateway's AllocsPerRun tests hold it).
package httpcache
