package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// WriteComparison writes compare.md, compare.json and
// compare-percentiles.svg (the open-loop distributions overlaid) into dir.
func WriteComparison(dir string, info RunInfo, c *Comparison) error {
	if err := mkdir(dir); err != nil {
		return err
	}
	named := map[string][]Percentile{}
	var order []string
	for _, t := range c.Targets {
		label := fmt.Sprintf("%s at %.0f req/s", t.Name, t.Open.Target)
		named[label] = t.Open.Percentiles
		order = append(order, label)
	}
	plot := PercentilePlot(fmt.Sprintf("open loop at %.0f%% of each target's max", 100*c.Options.OpenFraction), named, order)
	if err := os.WriteFile(filepath.Join(dir, "compare-percentiles.svg"), []byte(plot), 0o644); err != nil {
		return fmt.Errorf("cannot write a plot: %w", err)
	}
	data, err := json.MarshalIndent(struct {
		Info RunInfo     `json:"info"`
		Cmp  *Comparison `json:"comparison"`
	}{info, c}, "", "  ")
	if err != nil {
		return fmt.Errorf("cannot encode the comparison: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "compare.json"), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("cannot write the comparison: %w", err)
	}
	f, err := os.Create(filepath.Join(dir, "compare.md"))
	if err != nil {
		return fmt.Errorf("cannot write the comparison: %w", err)
	}
	defer f.Close()
	if err := WriteComparisonMarkdown(f, info, c); err != nil {
		return err
	}
	return f.Close()
}

// WriteComparisonMarkdown writes the two comparison tables: max
// throughput (ratios to bare) and latency at a fraction of each max.
func WriteComparisonMarkdown(w io.Writer, info RunInfo, c *Comparison) error {
	var b strings.Builder
	o := c.Options
	fmt.Fprintf(&b, "# Tiercel side by side, %s\n\n", info.Date)
	writeInfo(&b, info)
	fmt.Fprintf(&b, "## Max throughput: closed loop, %s, %d connections, %.0fs per run, median of %d alternating rounds\n\n",
		generatorName(o.Generator), o.Conns, o.MaxDuration, o.Rounds)
	b.WriteString("| target | req/s | ratio to bare | p50 | p99 | p99.9 | server CPU µs/req | CPU ratio to bare | errors | req/s of each round |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	bareCPU := bareTarget(c).Median.CPUPerReq
	for _, t := range c.Targets {
		m := t.Median
		var rounds []string
		var errs int64
		for _, r := range t.Max {
			rounds = append(rounds, fmt.Sprintf("%.0f", r.Rate))
			errs += r.Errors
		}
		cpuRatio := "-"
		if m.CPUPerReq > 0 && bareCPU > 0 {
			cpuRatio = fmt.Sprintf("%.2f", bareCPU/m.CPUPerReq)
		}
		fmt.Fprintf(&b, "| %s | %.0f | %.2f | %s | %s | %s | %.2f | %s | %d | %s |\n", t.Description, m.Rate, t.Ratio,
			fmtUS(m.P50), fmtUS(m.P99), fmtUS(m.P999), m.CPUPerReq, cpuRatio, errs, strings.Join(rounds, ", "))
	}
	b.WriteString("\nCPU ratio to bare is bare's CPU µs/req over the target's: the throughput ratio a CPU-bound server on a quiet core would reach.\n")
	if bj, ti := targetNamed(c, "bare-jwt"), targetNamed(c, "tiercel"); bj != nil && ti != nil && bj.Median.Rate > 0 {
		fmt.Fprintf(&b, "\nAgainst bare-jwt, the bare handler sent the very request Tiercel gets (same JWT, ignored), so request size cancels out: Tiercel %.2f by req/s", ti.Median.Rate/bj.Median.Rate)
		if ti.Median.CPUPerReq > 0 {
			fmt.Fprintf(&b, ", %.2f by CPU µs/req", bj.Median.CPUPerReq/ti.Median.CPUPerReq)
		}
		b.WriteString(".\n")
	}
	if len(c.Check) > 0 {
		var rates []string
		for _, r := range c.Check {
			rates = append(rates, fmt.Sprintf("%.0f", r.Rate))
		}
		fmt.Fprintf(&b, "\nGenerator check: %s against bare in the same rounds: %s req/s (median %.0f; %s: %.0f).\n",
			generatorName(c.Check[0].Generator), strings.Join(rates, ", "), medianRun(c.Check).Rate,
			generatorName(o.Generator), bareTarget(c).Median.Rate)
	}
	fmt.Fprintf(&b, "\n## Latency at %.0f%% of each target's max: open loop (tiercel-bench, latency from the intended send time), %d connections, %.0fs per run, %d alternating rounds merged\n\n",
		100*o.OpenFraction, o.Conns, o.OpenDuration, o.Rounds)
	b.WriteString("| target | req/s asked | req/s | p50 | p90 | p99 | p99.9 | max | server CPU µs/req | errors | missed | hit ratio |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, t := range c.Targets {
		r := t.Open
		l := r.Latency
		fmt.Fprintf(&b, "| %s | %.0f | %.0f | %s | %s | %s | %s | %s | %.2f | %d | %d | %s |\n", t.Name, r.Target, r.Rate,
			fmtUS(l.P50), fmtUS(l.P90), fmtUS(l.P99), fmtUS(l.P999), fmtUS(l.Max), t.OpenCPUPerReq, r.Errors, r.Missed, hitRatio(r))
	}
	b.WriteString("\n![open-loop percentiles](compare-percentiles.svg)\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func generatorName(g string) string {
	if g == "wrk" {
		return "wrk -t1"
	}
	return "tiercel-bench closed loop"
}

func bareTarget(c *Comparison) *TargetResult {
	if t := targetNamed(c, "bare"); t != nil {
		return t
	}
	return &TargetResult{}
}

func targetNamed(c *Comparison, name string) *TargetResult {
	for _, t := range c.Targets {
		if t.Name == name {
			return t
		}
	}
	return nil
}
