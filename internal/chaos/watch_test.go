package chaos

// Watching a fault: /readyz and the answers while it is on, and until
// everything has recovered after it is cleared.

import (
	"encoding/json"
	"errors"
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

// recovered says why a replica's /readyz does not show it recovered:
// every check ok, but for "redis", which must have every master (or its
// one node) answering PING. That check says degraded for 10 s after the
// last failure reply (redisconn's degradedFor), timeouts included, so
// that a probe every few seconds sees a blip: a Redis fault ends with
// such replies, and so can any fault on a machine busy enough to make
// the limiter's 20 ms Redis calls time out.
func (rd readiness) recovered() error {
	for name, c := range rd.Checks {
		if name != "redis" {
			if c.Status != "ok" {
				return fmt.Errorf("%v", rd.notOK())
			}
			continue
		}
		var h struct {
			Nodes map[string]string `json:"nodes"`
		}
		if err := json.Unmarshal(c.Detail, &h); err != nil {
			return fmt.Errorf("redis detail: %w", err)
		}
		if len(h.Nodes) == 0 {
			return errors.New("redis: no node listed")
		}
		for addr, st := range h.Nodes {
			if st != "ok" {
				return fmt.Errorf("redis node %s: %s", addr, st)
			}
		}
	}
	return nil
}

func recoveredYet(e *env, l *Load, f fault) error {
	for i := range e.gws {
		rd, err := e.readyz(i)
		if err != nil {
			return fmt.Errorf("replica %d /readyz: %w", i, err)
		}
		if err := rd.recovered(); err != nil {
			return fmt.Errorf("replica %d /readyz %s: %w", i, rd.Status, err)
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
