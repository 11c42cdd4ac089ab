// Package conntimeout enforces an HTTP/1.x server's read, write and idle
// timeouts on its connections without arming a runtime timer per request.
//
// fasthttp's own timeouts call SetReadDeadline twice and SetWriteDeadline
// once per request, each a clock read and a timer-heap update: on a cache
// hit that was about a tenth of the server's CPU (scripts/bench-ab.sh,
// fasthttp's timeouts on and off: bench/results/2026-11-22-perf/perf-ab.md).
// Here each connection only
// records, in one atomic word, when its current phase (waiting for a
// request, reading it, writing the response) must end, taken from a coarse
// clock; one sweeper goroutine per Guard looks for expired connections every
// Config.Resolution and only then sets a real deadline in the past, which
// fails the blocked Read or Write exactly as an expired deadline would.
//
// The trade-off: a timeout fires within one resolution of its nominal value
// (early or late), not to the nanosecond.
//
// It must never cut a connection whose current phase is within its limit,
// never keep a closed connection, and never let its sweeper outlive Close.
package conntimeout
