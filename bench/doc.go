// Package bench is Tiercel's load generator: open-loop (constant arrival
// rate, latency measured from the intended send time) and closed-loop
// scenarios, HdrHistogram latencies and reports.
//
// It must never be imported by the gateway. Its implementation lands with
// the benchmark suite issue; until then `make bench` runs the packages' go
// benchmarks.
package bench
