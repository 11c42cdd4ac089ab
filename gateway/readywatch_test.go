package gateway

import (
	"context"
	"encoding/json"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tiercel/tiercel/internal/testredis"
	"github.com/tiercel/tiercel/internal/testwait"
)

// transition is one "dependency state changed" log record.
type transition struct {
	Level, Msg, Check, From, To string
	Detail                      json.RawMessage
}

func transitions(t *testing.T, out *syncBuffer, check string) []transition {
	t.Helper()
	var ts []transition
	for _, l := range out.lines() {
		var tr transition
		if l == "" || json.Unmarshal([]byte(l), &tr) != nil {
			continue
		}
		if tr.Msg == "dependency state changed" && tr.Check == check {
			ts = append(ts, tr)
		}
	}
	return ts
}

// TestReadinessTransitionsLogged: a real Redis killed and restarted is
// logged once per change of state (ok to down or degraded, and back to
// ok), with the detail, though the watcher probes it every 100ms; an
// unchanged state is never logged again.
func TestReadinessTransitionsLogged(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out redisconn's 10s degraded window after the restart")
	}
	rs := testredis.Start(t)
	o := startOrigin(t)
	cfg := testConfig(o.ln.Addr().String())
	cfg.Redis.URL = rs.URL()
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	srv, err := New(cfg, slog.New(slog.NewJSONHandler(&out, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv.watchEvery = 100 * time.Millisecond
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	// The watcher has seen Redis ok (and said nothing) before the kill.
	testwait.For(t, 5*time.Second, "a watcher round", func() bool { return srv.watchRounds.Load() > 0 })
	if ts := transitions(t, &out, "redis"); len(ts) != 0 {
		t.Fatalf("Redis up logged: %+v", ts)
	}

	rs.Kill()
	testwait.For(t, 5*time.Second, "Redis down to be logged", func() bool { return len(transitions(t, &out, "redis")) > 0 })
	// Twenty rounds more, all down: nothing more is logged.
	r := srv.watchRounds.Load()
	testwait.For(t, 10*time.Second, "twenty more watcher rounds", func() bool {
		if n := len(transitions(t, &out, "redis")); n != 1 {
			t.Fatalf("Redis still down logged %d transitions: %s", n, out.String())
		}
		return srv.watchRounds.Load() >= r+20
	})
	rs.Restart()
	testwait.For(t, 20*time.Second, "Redis ok to be logged", func() bool {
		ts := transitions(t, &out, "redis")
		return ts[len(ts)-1].To == "ok"
	})
	ts := transitions(t, &out, "redis")
	prev := "ok"
	oks := 0
	for _, tr := range ts {
		if tr.From != prev || tr.From == tr.To || len(tr.Detail) == 0 {
			t.Fatalf("transition %+v after %q: %s", tr, prev, out.String())
		}
		if want := map[bool]string{true: "INFO", false: "WARN"}[tr.To == "ok"]; tr.Level != want {
			t.Fatalf("%+v: level %s, want %s", tr, tr.Level, want)
		}
		prev = tr.To
		if tr.To == "ok" {
			oks++
		}
	}
	// ok -> down, then (redisconn keeps a recovered Redis degraded for
	// 10s after its last failure) down -> degraded at most, then -> ok.
	if ts[0].To != "down" && ts[0].To != "degraded" || oks != 1 || len(ts) > 3 {
		t.Fatalf("transitions: %+v", ts)
	}
	for _, tr := range ts {
		t.Logf("%s -> %s %s", tr.From, tr.To, strings.TrimSpace(string(tr.Detail)))
	}
}

// TestReadinessWatcherStops: Shutdown ends the watcher Start began, and
// a server never started has none.
func TestReadinessWatcherStops(t *testing.T) {
	watchers := func() int {
		buf := make([]byte, 1<<20)
		return strings.Count(string(buf[:runtime.Stack(buf, true)]), "gateway.(*Server).watchReadiness")
	}
	before := watchers()
	h := newHarness(t, nil)
	testwait.For(t, 5*time.Second, "the watcher to run", func() bool { return watchers() == before+1 })
	if err := h.srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := watchers(); n != before {
		t.Fatalf("%d watchers left after Shutdown, want %d", n, before)
	}
	s := newCheckServer(t)
	if err := s.Shutdown(context.Background()); err != nil || watchers() != before {
		t.Fatalf("a server never started: %v, %d watchers", err, watchers())
	}
}
