package chaos

// The contract every answer is held to (../../docs/degradation.md: the
// degradation ladder and the chaos suite).

import (
	"fmt"
	"slices"
	"time"
)

// checkAnswers holds every answer to the contract: an acceptable status
// (no 5xx: every target has a stale copy or a declared fallback) and no
// later than its budget plus the scheduling margin, once the witness's
// delay at the same moment is taken out. It returns the number of late
// answers, the number that were late only as much as the witness, and the
// problems found.
func checkAnswers(samples []Sample, targets []Target, w *Witness) (late, excused int, problems []string) {
	byName := map[string]*Target{}
	for i := range targets {
		byName[targets[i].Name] = &targets[i]
	}
	type slow struct {
		Sample
		delay time.Duration // the witness's
	}
	var bad []Sample
	var lates []slow
	for _, s := range samples {
		t := byName[s.Target]
		var delay time.Duration
		excusedNow := false
		if s.Latency > t.Budget+schedulingMargin {
			delay = w.Delay(s.Due, s.Due.Add(s.Latency))
			if s.Latency-delay > t.Budget+schedulingMargin {
				lates = append(lates, slow{s, delay})
			} else {
				excused++
				excusedNow = true
			}
		}
		// No answer at all is a failure, unless the client gave up while
		// the whole process was as slow.
		if s.Status == 0 && !excusedNow || s.Status != 0 && !t.Expected(s.Status) {
			bad = append(bad, s)
		}
	}
	if len(bad) > 0 {
		problems = append(problems, fmt.Sprintf("%d of %d answers had an unacceptable status; first ones:", len(bad), len(samples)))
		for _, s := range bad[:min(len(bad), 5)] {
			problems = append(problems, "  "+describe(s, w.Delay(s.Due, s.Due.Add(s.Latency))))
		}
	}
	if len(lates) > 0 {
		slices.SortFunc(lates, func(a, b slow) int { return int((b.Latency - b.delay) - (a.Latency - a.delay)) })
		problems = append(problems, fmt.Sprintf("%d of %d answers came later than budget %s + margin %s (witness delay taken out); slowest:", len(lates), len(samples), budget, schedulingMargin))
		for _, s := range lates[:min(len(lates), 5)] {
			problems = append(problems, "  "+describe(s.Sample, s.delay))
		}
	}
	return len(lates), excused, problems
}

// adjustedP99 is the 99th percentile of the answers' latencies, each
// less what the witness was delayed meanwhile: what the gateway, not the
// machine, added.
func adjustedP99(samples []Sample, w *Witness) time.Duration {
	if len(samples) == 0 {
		return 0
	}
	adj := make([]time.Duration, len(samples))
	for i, s := range samples {
		adj[i] = max(s.Latency-w.Delay(s.Due, s.Due.Add(s.Latency)), 0)
	}
	slices.Sort(adj)
	return adj[(len(adj)*99-1)/100]
}

func describe(s Sample, delay time.Duration) string {
	what := fmt.Sprintf("status %d %v", s.Status, s.Steps)
	if s.Status == 0 {
		what = "no answer: " + s.Err
	} else if s.Body != "" {
		what += " " + s.Body
	}
	return fmt.Sprintf("%s on replica %d, due %s the fault at %s: %s after %s (witness delay %s; Server-Timing: %s)",
		s.Target, s.Base, s.Phase, s.Due.Format("15:04:05.000"), what, s.Latency.Round(100*time.Microsecond), delay.Round(100*time.Microsecond), s.Timing)
}

// missingSteps lists the wanted "target step" pairs no answer due in phase
// reported.
func missingSteps(samples []Sample, phase Phase, want []string) []string {
	if len(want) == 0 {
		return nil
	}
	got := map[string]bool{}
	for _, s := range samples {
		if s.Phase != phase {
			continue
		}
		for _, st := range s.Steps {
			got[s.Target+" "+st] = true
		}
	}
	var out []string
	for _, w := range want {
		if !got[w] {
			out = append(out, fmt.Sprintf("no answer due %s the fault reported %q", phase, w))
		}
	}
	return out
}

// unwantedSteps lists the "target step" pairs of unwanted that answers due
// in phase reported, with how many did. An answer is let off when the
// witness was at least schedulingMargin late meanwhile: on a machine that
// slow a stand-in can be the right answer after all (the deadline passed
// while the healthy path waited to be scheduled).
func unwantedSteps(samples []Sample, phase Phase, unwanted []string, w *Witness) []string {
	n := map[string]int{}
	for _, s := range samples {
		if s.Phase != phase {
			continue
		}
		for _, st := range s.Steps {
			k := s.Target + " " + st
			if slices.Contains(unwanted, k) && w.Delay(s.Due, s.Due.Add(s.Latency)) < schedulingMargin {
				n[k]++
			}
		}
	}
	var out []string
	for _, u := range unwanted {
		if n[u] > 0 {
			out = append(out, fmt.Sprintf("%d answers due %s the fault reported %q", n[u], phase, u))
		}
	}
	return out
}
