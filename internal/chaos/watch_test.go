package chaos

// Watching a fault: /readyz and the answers while it is on, and until
// everything has recovered after it is cleared.

import (
	"fmt"
	"strings"
	"time"
)

// watchFault keeps the fault on for at least sz.hold and until every
// replica's /readyz has named each expected check and the expected steps
// have been reported (or sz.within has passed). It returns, per replica,
// the checks seen not ok.
func watchFault(e *env, l *Load, sz size, f fault) []map[string]bool {
	seen := make([]map[string]bool, len(e.gws))
	for i := range seen {
		seen[i] = map[string]bool{}
	}
	start := time.Now()
	for {
		for i := range e.gws {
			if rd, err := e.readyz(i); err == nil {
				for name, c := range rd.Checks {
					if c.Status != "ok" {
						seen[i][name] = true
					}
				}
				for _, addr := range rd.openTargets("upstream:catalog") {
					seen[i][breakerOpen(addr)] = true
				}
			}
		}
		done := time.Since(start) >= sz.hold && len(missingSteps(l.Snapshot(), During, f.during)) == 0
		for i := range seen {
			for _, c := range f.degraded {
				done = done && seen[i][c]
			}
			for _, c := range f.breakerKeys(e) {
				done = done && seen[i][c]
			}
		}
		if done || time.Since(start) > sz.within {
			return seen
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// breakerKeys are the seen-keys of the catalog targets whose breakers
// must open during f.
func (f *fault) breakerKeys(e *env) []string {
	if f.openBreakers == nil {
		return nil
	}
	var keys []string
	for _, p := range f.openBreakers(e) {
		keys = append(keys, breakerOpen(p.Addr()))
	}
	return keys
}

func breakerOpen(target string) string {
	return "the breaker of upstream:catalog target " + target + " open"
}

// watchRecovery polls until every replica is ready again, the expected
// steps are back and f.recovered agrees, or sz.within passes.
func watchRecovery(e *env, l *Load, sz size, f fault) (time.Duration, error) {
	start := time.Now()
	for {
		err := recoveredYet(e, l, f)
		if err == nil {
			return time.Since(start), nil
		}
		if time.Since(start) > sz.within {
			return time.Since(start), err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func recoveredYet(e *env, l *Load, f fault) error {
	for i := range e.gws {
		rd, err := e.readyz(i)
		if err != nil {
			return fmt.Errorf("replica %d /readyz: %w", i, err)
		}
		switch {
		case f.ready != nil:
			if err := f.ready(rd); err != nil {
				return fmt.Errorf("replica %d /readyz: %w", i, err)
			}
		case rd.Status != "ready":
			return fmt.Errorf("replica %d /readyz %s: %v", i, rd.Status, rd.notOK())
		}
	}
	if m := missingSteps(l.Snapshot(), After, f.after); len(m) > 0 {
		return fmt.Errorf("%s", strings.Join(m, "; "))
	}
	if f.recovered != nil {
		return f.recovered(e, l)
	}
	return nil
}
