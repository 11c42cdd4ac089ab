package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
)

// resultColumns are the columns of the Markdown results table, one row per
// run, so runs against several targets read side by side.
var resultColumns = []string{
	"run", "mode", "conns", "target req/s", "req/s", "requests",
	"p50", "p90", "p99", "p99.9", "max", "errors", "missed", "hit ratio",
}

// WriteMarkdown writes the results table and, below it, the X-Cache and
// error breakdowns of each run.
func WriteMarkdown(w io.Writer, results ...*Result) error {
	var b strings.Builder
	b.WriteString("| " + strings.Join(resultColumns, " | ") + " |\n|")
	for i := range resultColumns {
		if i < 3 {
			b.WriteString("---|")
		} else {
			b.WriteString("---:|")
		}
	}
	b.WriteString("\n")
	for _, res := range results {
		b.WriteString(res.markdownRow())
	}
	for _, res := range results {
		res.writeBreakdowns(&b)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (res *Result) markdownRow() string {
	target := "-"
	if res.Mode == "open" {
		target = fmt.Sprintf("%.0f", res.Target)
	}
	l := res.Latency
	cells := []string{
		res.label(), res.Mode, fmt.Sprint(res.Conns), target, fmt.Sprintf("%.0f", res.Rate),
		fmt.Sprint(res.Requests), fmtUS(l.P50), fmtUS(l.P90), fmtUS(l.P99),
		fmtUS(l.P999), fmtUS(l.Max), fmt.Sprint(res.Errors), fmt.Sprint(res.Missed),
		hitRatio(res),
	}
	return "| " + strings.Join(cells, " | ") + " |\n"
}

// hitRatio is "-" when no answer had an X-Cache header: the target is no
// cache, and 0% would read as a cache that never hits.
func hitRatio(res *Result) string {
	if res.OK == 0 || res.XCache[""] == res.OK {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*res.HitRatio())
}

func (res *Result) label() string {
	l := res.URL
	if res.Name != "" {
		l = res.Name
	}
	if res.Interrupted {
		return l + " (interrupted)"
	}
	return l
}

func (res *Result) writeBreakdowns(b *strings.Builder) {
	if hitRatio(res) != "-" {
		fmt.Fprintf(b, "\nX-Cache of 2xx answers, %s:\n\n| X-Cache | count |\n|---|---:|\n", res.label())
		for _, k := range slices.Sorted(maps.Keys(res.XCache)) {
			name := k
			if name == "" {
				name = "(none)"
			}
			fmt.Fprintf(b, "| %s | %d |\n", name, res.XCache[k])
		}
	}
	if res.Errors > 0 {
		fmt.Fprintf(b, "\nErrors, %s:\n\n| error | count |\n|---|---:|\n", res.label())
		for _, k := range slices.Sorted(maps.Keys(res.Status)) {
			fmt.Fprintf(b, "| status %d | %d |\n", k, res.Status[k])
		}
		for _, k := range slices.Sorted(maps.Keys(res.Transport)) {
			fmt.Fprintf(b, "| %s | %d |\n", k, res.Transport[k])
		}
	}
}

// WriteJSONFile writes res as indented JSON to path.
func WriteJSONFile(path string, res *Result) error {
	data, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("cannot encode results: %w", err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("cannot write results: %w", err)
	}
	return nil
}

// fmtUS formats microseconds with three significant digits, as recorded.
func fmtUS(us int64) string {
	switch {
	case us < 1000:
		return fmt.Sprintf("%dµs", us)
	case us < 1_000_000:
		return fmt.Sprintf("%.3gms", float64(us)/1e3)
	default:
		return fmt.Sprintf("%.3gs", float64(us)/1e6)
	}
}
