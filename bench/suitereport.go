package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// RunInfo describes where and how a report's figures were measured.
type RunInfo struct {
	Date    string   `json:"date"`
	Command string   `json:"command"`
	Machine string   `json:"machine"`
	Notes   []string `json:"notes,omitempty"`
}

// suiteFile is results.json.
type suiteFile struct {
	Info      RunInfo           `json:"info"`
	Scenarios []*ScenarioResult `json:"scenarios"`
}

// WriteSuite writes report.md, results.json and two SVG plots per
// scenario into dir.
func WriteSuite(dir string, info RunInfo, results []*ScenarioResult) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cannot write the report: %w", err)
	}
	for _, r := range results {
		res := r.Result
		files := map[string]string{
			r.Name + "-percentiles.svg": PercentilePlot(r.Name+": latency by percentile", map[string][]Percentile{r.Name: res.Percentiles}, []string{r.Name}),
			r.Name + "-timeline.svg":    TimelinePlot(r.Name, res.Timeline),
		}
		for name, text := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
				return fmt.Errorf("cannot write a plot: %w", err)
			}
		}
	}
	data, err := json.MarshalIndent(suiteFile{Info: info, Scenarios: results}, "", "  ")
	if err != nil {
		return fmt.Errorf("cannot encode results: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("cannot write results: %w", err)
	}
	f, err := os.Create(filepath.Join(dir, "report.md"))
	if err != nil {
		return fmt.Errorf("cannot write the report: %w", err)
	}
	defer f.Close()
	if err := WriteSuiteMarkdown(f, info, results); err != nil {
		return err
	}
	return f.Close()
}

var suiteColumns = []string{
	"scenario", "mode", "target req/s", "req/s", "p50", "p90", "p99", "p99.9", "max",
	"errors", "missed", "hit ratio", "X-Cache mix", "server CPU µs/req",
}

// WriteSuiteMarkdown writes the suite's report: one summary row per
// scenario, then each scenario's details and plots.
func WriteSuiteMarkdown(w io.Writer, info RunInfo, results []*ScenarioResult) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Tiercel benchmark suite, %s\n\n", info.Date)
	writeInfo(&b, info)
	b.WriteString("| " + strings.Join(suiteColumns, " | ") + " |\n|---|---|")
	for range suiteColumns[2:] {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	for _, r := range results {
		res := r.Result
		target, cpu := "-", "-"
		if res.Mode == "open" {
			target = fmt.Sprintf("%.0f", res.Target)
		}
		if r.CPUPerReq > 0 {
			cpu = fmt.Sprintf("%.1f", r.CPUPerReq)
		}
		l := res.Latency
		cells := []string{
			r.Name, res.Mode, target, fmt.Sprintf("%.0f", res.Rate), fmtUS(l.P50), fmtUS(l.P90), fmtUS(l.P99),
			fmtUS(l.P999), fmtUS(l.Max), fmt.Sprint(res.Errors), fmt.Sprint(res.Missed), hitRatio(res), xcacheMix(res), cpu,
		}
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	for _, r := range results {
		r.writeDetails(&b)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeInfo(b *strings.Builder, info RunInfo) {
	if info.Machine != "" {
		fmt.Fprintf(b, "Machine: %s\n\n", info.Machine)
	}
	if info.Command != "" {
		fmt.Fprintf(b, "Command: `%s`\n\n", info.Command)
	}
	for _, n := range info.Notes {
		fmt.Fprintf(b, "- %s\n", n)
	}
	if len(info.Notes) > 0 {
		b.WriteString("\n")
	}
}

// xcacheMix is the share of each X-Cache value among 2xx answers.
func xcacheMix(res *Result) string {
	if hitRatio(res) == "-" {
		return "-"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(res.XCache)) {
		name := k
		if name == "" {
			name = "none"
		}
		parts = append(parts, fmt.Sprintf("%s %.1f%%", name, 100*float64(res.XCache[k])/float64(res.OK)))
	}
	return strings.Join(parts, ", ")
}

func (r *ScenarioResult) writeDetails(b *strings.Builder) {
	res := r.Result
	fmt.Fprintf(b, "\n## %s\n\n", r.Name)
	if r.Description != "" {
		fmt.Fprintf(b, "%s\n\n", strings.TrimSpace(r.Description))
	}
	fmt.Fprintf(b, "- target: %s\n", r.Target)
	fmt.Fprintf(b, "- load: %s, %d connections, %.0fs measured", res.Mode, res.Conns, res.Duration)
	if res.Mode == "open" {
		fmt.Fprintf(b, ", %.0f req/s asked", res.Target)
	}
	fmt.Fprintf(b, "; %d requests measured, %d in all (warm-up included)\n", res.Requests, res.Completed)
	if r.Prefill > 0 {
		fmt.Fprintf(b, "- prefill: %d unmeasured requests, each key once\n", r.Prefill)
	}
	if s := res.Schedule; s != nil {
		fmt.Fprintf(b, "- schedule: %d requests sent late behind busy connections (their wait is in the latency), %d missed\n", s.Backlogged, res.Missed)
	}
	if st := r.Storm; st != nil {
		fmt.Fprintf(b, "- invalidation storm (%s): %s\n", st.Via, st)
	}
	fmt.Fprintf(b, "\n![percentiles](%s-percentiles.svg)\n![timeline](%s-timeline.svg)\n", r.Name, r.Name)
	res.writeBreakdowns(b)
}
