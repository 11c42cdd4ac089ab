// Package upstream sends the gateway's cache misses to a pool of origin
// servers: one keep-alive fasthttp.HostClient per target, a balance policy
// (round robin or fewest in-flight requests), passive and optional active
// health checks, bounded retries and reverse-proxy header hygiene.
//
// It must never:
//   - wait past the caller's deadline: every dial, write and read is bounded
//     by it, and a retry is only started while time remains;
//   - retry a request the caller did not declare idempotent, because once the
//     request may have reached an upstream, sending it again could apply its
//     side effect twice;
//   - keep a fasthttp.RequestCtx, or any byte slice borrowed from one, after
//     Proxy returns: the server recycles both for the next request.
package upstream
