package gateway

import (
	"context"
	"log/slog"
	"time"
)

// readyWatchEvery is how often the watcher computes readiness: often
// enough that a log line dates a change within a second, rarely enough
// that its Redis PING is nothing beside the traffic.
const readyWatchEvery = time.Second

// watchReadiness logs each dependency whose state changes (ok, degraded,
// down), once per change with the old and new state and the detail:
// /readyz shows a state only to whoever asks at that moment, and a
// degraded Redis that recovered before anyone looked left no trace. It
// runs from Start until Shutdown.
func (s *Server) watchReadiness(stop <-chan struct{}, every time.Duration) {
	last := map[string]string{}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), min(every, 500*time.Millisecond))
		rd := s.Readiness(ctx)
		cancel()
		s.logTransitions(last, rd)
		s.watchRounds.Add(1)
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// logTransitions logs the checks of rd whose status differs from last,
// and updates last. A check seen for the first time (at start, or added
// by a reload) is logged only when it is not ok: ok is what nobody needs
// to be told.
func (s *Server) logTransitions(last map[string]string, rd Readiness) {
	for name, c := range rd.Checks {
		if name == "server" {
			continue // draining: Shutdown logs it
		}
		old, seen := last[name]
		last[name] = c.Status
		if old == c.Status || (!seen && c.Status == "ok") {
			continue
		}
		if !seen {
			old = "unknown"
		}
		level := slog.LevelWarn
		if c.Status == "ok" {
			level = slog.LevelInfo
		}
		s.log.Log(context.Background(), level, "dependency state changed",
			"check", name, "from", old, "to", c.Status, "detail", c.Detail)
	}
	for name := range last {
		if _, ok := rd.Checks[name]; !ok {
			delete(last, name) // a reload removed it
		}
	}
}
