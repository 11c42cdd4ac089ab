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
		if !strings.Contains(got, w+"\n") {
			t.Errorf("missing %q in\n%s", w, got)
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
