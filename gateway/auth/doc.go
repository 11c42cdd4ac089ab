// Package auth verifies the JWT bearer tokens presented to the gateway and
// turns them into a Principal (subject, tenant, scopes, roles, plan).
//
// Verifying a signature costs 6–40× a whole cached request (on a 2-core VM,
// BenchmarkVerifyHS256Uncached ~14 µs and BenchmarkVerifyRS256Uncached /
// ES256Uncached ~55–85 µs, against ~2.2 µs for gateway's
// BenchmarkHandleL1Hit), so Verifier keeps a bounded cache of tokens it has
// already verified (BenchmarkVerifyCached, ~100 ns); a cache hit allocates
// nothing. The package knows nothing of HTTP servers: callers pass the
// Authorization header's value (Verifier.VerifyBearer) and map a *Error's
// Reason to a response.
//
// What it must never do:
//   - accept a token whose alg is not in its issuer's allow-list, or verify a
//     token with a key of another type than its alg (HS* only with HMAC
//     secrets, RS*/PS* only with RSA keys, ES* only with the matching curve,
//     EdDSA only with Ed25519); "none" is never accepted;
//   - let one issuer's keys verify another issuer's tokens;
//   - touch the network on the request path, except the refetch of a JWKS
//     triggered by an unknown kid, which is rate limited per issuer;
//   - retain the caller's token buffer (it is reused by the server);
//   - cache a token that failed verification, or trust a cached one past its
//     exp, past CacheTTL, or once the key that verified it has left its
//     JWKS or outlived jwks_max_stale;
//   - keep trusting a JWKS's keys when it answers with a set that lacks
//     them (an empty one included), or, while it fails, past
//     jwks_max_stale.
package auth
