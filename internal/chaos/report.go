package chaos

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in microseconds from 1µs to 60s, three significant
// digits; longer values are clamped, so a hung request still shows as the
// max.
const (
	histMinUS   = 1
	histMaxUS   = 60_000_000
	histSigFigs = 3
)

// Summary is one fault's line in the report.
type Summary struct {
	Fault    string
	Requests int
	P50, P99 time.Duration
	Max      time.Duration
	// Late counts answers later than their budget plus the scheduling
	// margin, once the witness's delay is taken out; Excused those that
	// were over it only by as much as the witness (see Witness).
	Late, Excused int
	// WitnessP50, WitnessP99 and WitnessMax are the witness's latencies:
	// how busy the machine was during the run.
	WitnessP50, WitnessP99, WitnessMax time.Duration
	// During counts the answers that reported each ladder step (X-Cache
	// "STALE", a feature view's "profile:DEFAULT", a prediction's
	// "predict:stale") among the requests due while the fault was on;
	// Steps counts them over the whole run.
	During, Steps map[string]int
	// Errors counts answers that were not acceptable for their target, by
	// status ("503") or transport error ("transport").
	Errors map[string]int
	// Recovery is how long after the fault was cleared every replica's
	// /readyz and the answers showed the normal path back.
	Recovery time.Duration
	// Notes are a fault's own figures (a failover's timings).
	Notes []string
	// Result is "ok" or "FAIL".
	Result string
}

// fiveXX counts the 5xx answers among errs.
func fiveXX(errs map[string]int) int {
	n := 0
	for k, v := range errs {
		if len(k) == 3 && k[0] == '5' {
			n += v
		}
	}
	return n
}

// Summarize builds fault's summary from its samples; targets say which
// statuses are acceptable.
func Summarize(fault string, samples []Sample, targets []Target) Summary {
	h := hdrhistogram.New(histMinUS, histMaxUS, histSigFigs)
	s := Summary{Fault: fault, Requests: len(samples), During: map[string]int{}, Steps: map[string]int{}, Errors: map[string]int{}, Result: "ok"}
	byName := map[string]*Target{}
	for i := range targets {
		byName[targets[i].Name] = &targets[i]
	}
	for _, x := range samples {
		us := min(max(x.Latency.Microseconds(), histMinUS), histMaxUS)
		_ = h.RecordValue(us) // clamped into range: cannot fail
		for _, st := range x.Steps {
			s.Steps[st]++
			if x.Phase == During {
				s.During[st]++
			}
		}
		switch t := byName[x.Target]; {
		case x.Status == 0:
			s.Errors["transport"]++
		case t == nil || !t.Expected(x.Status):
			s.Errors[strconv.Itoa(x.Status)]++
		}
	}
	if h.TotalCount() > 0 {
		s.P50 = time.Duration(h.ValueAtQuantile(50)) * time.Microsecond
		s.P99 = time.Duration(h.ValueAtQuantile(99)) * time.Microsecond
		s.Max = time.Duration(h.Max()) * time.Microsecond
	}
	return s
}

var tableHeader = []string{"fault", "requests", "p50", "p99", "max", "late/excused", "witness p99/max", "steps during the fault", "steps (whole run)", "5xx", "errors", "recovery", "notes", "result"}

// tableAlign is the Markdown alignment row: figures to the right.
const tableAlign = "|---|---:|---:|---:|---:|---:|---|---|---|---:|---|---:|---|---|\n"

func (s Summary) cells() []string {
	notes := "-"
	if len(s.Notes) > 0 {
		notes = strings.Join(s.Notes, "; ")
	}
	return []string{s.Fault, strconv.Itoa(s.Requests), ms(s.P50), ms(s.P99), ms(s.Max),
		strconv.Itoa(s.Late) + "/" + strconv.Itoa(s.Excused), ms(s.WitnessP99) + "/" + ms(s.WitnessMax),
		counts(s.During), counts(s.Steps), strconv.Itoa(fiveXX(s.Errors)), counts(s.Errors), ms(s.Recovery), notes, s.Result}
}

// WriteTable writes summaries as an aligned text table.
func WriteTable(w io.Writer, summaries []Summary) error {
	rows := [][]string{tableHeader}
	for _, s := range summaries {
		rows = append(rows, s.cells())
	}
	width := make([]int, len(tableHeader))
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	var b strings.Builder
	for _, r := range rows {
		for i, c := range r {
			if i > 0 {
				b.WriteString("  ")
			}
			b.WriteString(c)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", width[i]-len([]rune(c))))
			}
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteMarkdown writes summaries as a Markdown table.
func WriteMarkdown(w io.Writer, summaries []Summary) error {
	var b strings.Builder
	row := func(cells []string) {
		b.WriteString("|")
		for _, c := range cells {
			b.WriteString(" " + strings.ReplaceAll(c, "|", `\|`) + " |")
		}
		b.WriteByte('\n')
	}
	row(tableHeader)
	b.WriteString(tableAlign)
	for _, s := range summaries {
		row(s.cells())
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64) + "ms"
}

// counts renders a count map, largest first: "HIT-L1 812, STALE 40".
func counts(m map[string]int) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			return m[b] - m[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
