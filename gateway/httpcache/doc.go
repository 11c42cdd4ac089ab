// Package httpcache is the HTTP caching policy of a shared cache, as RFC
// 9111 defines it: reading Cache-Control, Age, Date and Expires, computing a
// response's freshness lifetime and age, and deciding whether a response
// may be stored and served stale. The gateway's cached routes ask it; the
// tiered store (package cache) keeps what it allows.
//
// It knows nothing of servers, routes or the store: a response header and
// the times of one exchange in, a decision out. It must never decide that
// something may be shared that a response marks otherwise (no-store,
// private, Set-Cookie, Vary on what the key ignores), and every
// list-valued field is read as all its field lines (RFC 9110 §5.3).
package httpcache
