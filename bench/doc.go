// Package bench is Tiercel's benchmark tool: the load generator, the
// scenarios suite, the side-by-side comparison with peers, and their
// reports.
//
// Load runs one load: open loop (Config.Rate > 0: a constant arrival rate,
// optionally ramped, latency counted from the due time of any request that
// had to wait for a free connection, so a stalled server shows in the
// percentiles instead of slowing the generator down — coordinated
// omission) or closed loop (Rate 0: every connection back to back, for max
// throughput). A load is one request or a weighted mix, with {key}
// placeholders in paths and bodies drawn uniform, Zipf or in sequence.
// Each worker records into its own HdrHistogram (1 µs – 60 s, 3
// significant digits); a collector drains them once a second for the live
// progress line and the timeline, and the Result carries percentiles,
// errors by status (every non-2xx is an error, a 429 included), transport
// errors, X-Cache outcomes of 2xx answers and open-loop requests missed.
//
// RunSuite runs a scenarios file (LoadSuite), starting for each scenario a
// gateway with a generated config, its origin and maybe redis-server
// (StartTiercel), pinned to one CPU, with a token minted by the gateway's
// own auth package; WriteSuite writes report.md, results.json and SVG
// plots. Compare runs the same L1-hit load against Tiercel, the Bare
// handler, nginx and Varnish in alternating rounds (wrk or the closed loop
// for max throughput, then the open loop at half of each max) and
// WriteComparison reports ratios to bare and server CPU time per request.
//
// Files: config.go (what a load is), schedule.go (the arrival process),
// keys.go and kind.go (request templates and mixes), worker.go, tally.go,
// collector.go, histogram.go, result.go, load.go (wiring), report.go;
// scenario.go (the YAML file), suite.go, suitereport.go, storm.go
// (invalidation storms); proc.go (child processes, CPU time from /proc),
// stack.go (what serves a target), gatewayconf.go, peers.go (nginx and
// Varnish configs), wrk.go, compare.go, comparereport.go; svg.go and
// plots.go (hand-written SVG).
//
// It must never be imported by the gateway, and must never retry a request
// or drop a scheduled one silently: either would flatter the target.
package bench
