// Package bench is Tiercel's load generator and the baselines it is
// compared against.
//
// Load runs one scenario: open loop (Config.Rate > 0: a constant arrival
// rate, latency counted from the due time of any request that had to wait
// for a free connection, so a stalled server shows in the percentiles
// instead of slowing the generator down — coordinated omission) or closed
// loop (Rate 0: every connection back to back, for max throughput). Each
// worker records into its own HdrHistogram (1 µs – 60 s, 3 significant
// digits); a collector drains them once a second for the live progress
// line and the timeline, and the Result carries percentiles, errors by
// status (every non-2xx is an error, a 429 included), transport errors,
// X-Cache outcomes of 2xx answers and open-loop requests missed. Results
// render as Markdown (WriteMarkdown) and JSON (WriteJSONFile). Bare is the
// fasthttp handler every figure is quoted as a ratio to.
//
// Files: config.go (what a run is), schedule.go (the arrival process),
// keys.go ({key} distributions), worker.go (one connection's loop),
// tally.go (a worker's counters), collector.go (per-second merge),
// histogram.go, result.go, report.go, load.go (wiring).
//
// It must never be imported by the gateway, and must never retry a request
// or drop a scheduled one silently: either would flatter the target.
package bench
