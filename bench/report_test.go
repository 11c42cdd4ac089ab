package bench

import (
	"strings"
	"testing"
)

func TestWriteMarkdown(t *testing.T) {
	res := &Result{
		URL: "http://t/", Mode: "open", Conns: 64, Target: 20000, Rate: 19998.4, Requests: 99992,
		OK: 99990, Errors: 2, Missed: 8, Status: map[int]int64{429: 2}, Transport: map[string]int64{},
		XCache:  map[string]int64{"HIT-L1": 89991, "MISS": 9999},
		Latency: Latency{P50: 170, P90: 392, P99: 2590, P999: 5260, Max: 1_250_000},
	}
	var b strings.Builder
	if err := WriteMarkdown(&b, res); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"| run | mode | conns | target req/s | req/s | requests | p50 | p90 | p99 | p99.9 | max | errors | missed | hit ratio |",
		"|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
		"| http://t/ | open | 64 | 20000 | 19998 | 99992 | 170µs | 392µs | 2.59ms | 5.26ms | 1.25s | 2 | 8 | 90.0% |",
		"| HIT-L1 | 89991 |",
		"| MISS | 9999 |",
		"| status 429 | 2 |",
	}
	got := b.String()
	lines := strings.Split(got, "\n")
	for i, w := range want[:3] {
		if lines[i] != w {
			t.Errorf("line %d:\n got %s\nwant %s", i, lines[i], w)
		}
	}
	for _, w := range want[3:] {
		mustContain(t, got, w+"\n")
	}
}

// mustContain reports each of want that got, a rendered report, lacks.
func mustContain(t *testing.T, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("report lacks %q:\n%s", w, got)
		}
	}
}

func TestWriteMarkdownNoCacheHeader(t *testing.T) {
	res := &Result{URL: "http://bare/", Mode: "closed", OK: 5, Requests: 5, XCache: map[string]int64{"": 5}}
	var b strings.Builder
	if err := WriteMarkdown(&b, res); err != nil {
		t.Fatal(err)
	}
	if row := strings.Split(b.String(), "\n")[2]; !strings.HasSuffix(row, "| closed | 0 | - | 0 | 5 | 0µs | 0µs | 0µs | 0µs | 0µs | 0 | 0 | - |") ||
		strings.Contains(b.String(), "X-Cache") {
		t.Errorf("bare target report:\n%s", b.String())
	}
}

func TestFmtUS(t *testing.T) {
	f := func(us int64, want string) {
		t.Helper()
		if got := fmtUS(us); got != want {
			t.Errorf("fmtUS(%d) = %q, want %q", us, got, want)
		}
	}
	f(0, "0µs")
	f(999, "999µs")
	f(1000, "1ms")
	f(2594, "2.59ms")
	f(60_000_000, "60s")
}

func TestWriteSuiteMarkdown(t *testing.T) {
	res := &Result{
		Mode: "open", Conns: 32, Target: 5000, Rate: 4999.6, Requests: 40000, Completed: 50000, OK: 39990,
		Errors: 10, Duration: 8, Status: map[int]int64{429: 10}, Transport: map[string]int64{},
		XCache:   map[string]int64{"HIT-L1": 35991, "HIT-L2": 2000, "MISS": 1999},
		Latency:  Latency{P50: 150, P90: 400, P99: 1200, P999: 3400, Max: 9100},
		Schedule: &ScheduleStats{Backlogged: 12},
	}
	storm := &StormResult{Target: 500, Rate: 499, Sent: 5000, OK: 4990, Errors: 10, Via: "POST http://a/admin/invalidate", Latency: Latency{P99: 700}}
	results := []*ScenarioResult{
		{Name: "zipf", Description: "Zipf keys.", Target: "tiercel, L1+L2", Result: res, Storm: storm, Prefill: 100, CPUPerReq: 21.34},
		{Name: "features", Target: "tiercel", Result: &Result{Mode: "closed", OK: 5, Requests: 5, Rate: 5, XCache: map[string]int64{"": 5}}},
	}
	var b strings.Builder
	if err := WriteSuiteMarkdown(&b, RunInfo{Date: "D", Machine: "m", Notes: []string{"busy machine"}}, results); err != nil {
		t.Fatal(err)
	}
	mustContain(t, b.String(),
		"# Tiercel benchmark suite, D\n",
		"- busy machine\n",
		"| scenario | mode | target req/s | req/s | p50 | p90 | p99 | p99.9 | max | errors | missed | hit ratio | X-Cache mix | server CPU µs/req |\n",
		"| zipf | open | 5000 | 5000 | 150µs | 400µs | 1.2ms | 3.4ms | 9.1ms | 10 | 0 | 95.0% | HIT-L1 90.0%, HIT-L2 5.0%, MISS 5.0% | 21.3 |\n",
		"| features | closed | - | 5 | 0µs | 0µs | 0µs | 0µs | 0µs | 0 | 0 | - | - | - |\n",
		"## zipf\n\nZipf keys.\n",
		"- prefill: 100 unmeasured requests",
		"- invalidation storm (POST http://a/admin/invalidate): 500 events/s asked, 499/s accepted (5000 sent, 10 errors), p99 700µs per event\n",
		"![percentiles](zipf-percentiles.svg)",
		"| status 429 | 10 |",
	)
}

func TestWriteComparisonMarkdown(t *testing.T) {
	open := func(name string, rate float64) *Result {
		return &Result{Name: name, Mode: "open", Target: rate, Rate: rate, OK: 10, Requests: 10,
			XCache: map[string]int64{"HIT-L1": 10}, Latency: Latency{P50: 100, P90: 200, P99: 800, P999: 900, Max: 1000}}
	}
	c := &Comparison{
		Targets: []*TargetResult{
			{Name: "tiercel", Description: "Tiercel L1", Median: MaxRun{Rate: 90000, P50: 500, P99: 900, P999: 2000, CPUPerReq: 5.5},
				Max: []MaxRun{{Rate: 90000}, {Rate: 88000, Errors: 1}}, Ratio: 0.9, Open: open("tiercel", 45000), OpenCPUPerReq: 6},
			{Name: "bare", Description: "bare", Median: MaxRun{Rate: 100000, CPUPerReq: 4.5}, Max: []MaxRun{{Rate: 100000}}, Ratio: 1,
				Open: open("bare", 50000)},
			{Name: "bare-jwt", Description: "bare, Tiercel's request", Median: MaxRun{Rate: 96000, CPUPerReq: 5}, Max: []MaxRun{{Rate: 96000}},
				Ratio: 0.96, Open: open("bare-jwt", 48000)},
		},
		Check: []MaxRun{{Generator: "go", Rate: 60000}},
	}
	c.Options.Rounds, c.Options.Conns, c.Options.Generator, c.Options.OpenFraction = 2, 64, "wrk", 0.5
	c.Options.MaxDuration, c.Options.OpenDuration = 5, 5
	var b strings.Builder
	if err := WriteComparisonMarkdown(&b, RunInfo{Date: "D"}, c); err != nil {
		t.Fatal(err)
	}
	mustContain(t, b.String(),
		"## Max throughput: closed loop, wrk -t1, 64 connections, 5s per run, median of 2 alternating rounds",
		"| Tiercel L1 | 90000 | 0.90 | 500µs | 900µs | 2ms | 5.50 | 0.82 | 1 | 90000, 88000 |\n",
		"| bare | 100000 | 1.00 |",
		"Generator check: tiercel-bench closed loop against bare in the same rounds: 60000 req/s (median 60000; wrk -t1: 100000).",
		"Against bare-jwt, the bare handler sent the very request Tiercel gets (same JWT, ignored), so request size cancels out: Tiercel 0.94 by req/s, 0.91 by CPU µs/req.",
		"## Latency at 50% of each target's max",
		"| tiercel | 45000 | 45000 | 100µs | 200µs | 800µs | 900µs | 1ms | 6.00 | 0 | 0 | 100.0% |\n",
	)
}
