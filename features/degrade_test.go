package features

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tiercel/tiercel/internal/breaker"
	"github.com/tiercel/tiercel/internal/testwait"
)

// Degradation: a failing dependency never fails a read or a prediction
// inside its budget; its breaker opens after a few failures and sends
// every call straight to the fallback without touching the network, then
// probes and closes once the dependency is back. These tests check what
// was answered and why (never how fast: the machine is shared); they log
// the time each call took.

// The cooldown is what separates "open" from "half-open" in the checks
// right after the failures: at 100ms a stalled test process (-race, a busy
// machine) saw the breaker half-open already, and its probe as a call an
// open breaker should not have made.
var testBreaker = breaker.Config{Failures: 2, Cooldown: 500 * time.Millisecond}

// callLog logs how long calls took, for the test's log; polling loops
// would drown it, so only the first two calls of each outcome are logged.
func callLog(t *testing.T) func(what string, start time.Time, outcome any) {
	var mu sync.Mutex
	seen := map[string]int{}
	return func(what string, start time.Time, outcome any) {
		t.Helper()
		d := time.Since(start)
		key := fmt.Sprintf("%s %v", what, outcome)
		mu.Lock()
		seen[key]++
		n := seen[key]
		mu.Unlock()
		if n <= 2 {
			t.Logf("%s: %v → %v", what, d, outcome)
		}
	}
}

func dependency(t *testing.T, s *Store, name string) Dependency {
	t.Helper()
	for _, d := range s.Dependencies() {
		if d.Name == name {
			return d
		}
	}
	t.Fatalf("no dependency %q in %+v", name, s.Dependencies())
	return Dependency{}
}

func fallbacks(s *Store, name, served string, r Reason) uint64 {
	for _, f := range s.Fallbacks() {
		if f.Name == name && f.Served == served && f.Reason == r {
			return f.Rows
		}
	}
	return 0
}

func TestRedisFaultsFallBackAndRecover(t *testing.T) {
	for _, fc := range []struct {
		name          string
		inject, clear func(e *env)
		reasons       []Reason
	}{
		{"hung", func(e *env) { e.srv.Pause() }, func(e *env) { e.srv.Resume() }, []Reason{ReasonTimeout}},
		// go-redis retries refused dials until the deadline: either reason.
		{"killed", func(e *env) { e.srv.Kill() }, func(e *env) { e.srv.Restart() }, []Reason{ReasonError, ReasonTimeout}},
	} {
		t.Run(fc.name, func(t *testing.T) {
			cfg := testRegistry()
			cfg.Views[0].MaxAge = 0 // the clock jumps to miss L1
			cfg.Views[0].Budget = 50 * time.Millisecond
			cfg.RedisTimeout = time.Second // the view's budget is what bounds the pipeline
			cfg.Breaker = testBreaker
			e := newEnv(t, cfg)
			logOnce := callLog(t)
			pushUser(t, e, "u1", e.clk.Now())
			q := mustQuery(t, e.s, allRefs[:2], []string{"user_id"}, [][]string{{"u1"}})
			read := func() *Result {
				t.Helper()
				e.clk.Advance(time.Minute) // past RowTTL: L1 misses
				start := time.Now()
				res := mustGet(t, e.s, q)
				logOnce("read", start, res.Incomplete)
				return res
			}
			if res := read(); res.Incomplete || res.Cell(0, 0).Status != StatusPresent {
				t.Fatalf("healthy: %+v", res.Cells)
			}
			fc.inject(e)
			defer fc.clear(e) // a paused server must run again to stop
			for range testBreaker.Failures {
				res := read()
				if c0, c1 := res.Cell(0, 0), res.Cell(0, 1); !res.Incomplete || c0.Status != StatusDefault ||
					c0.Why != StatusNotFound || string(c0.Value) != "0" || c1.Status != StatusNotFound {
					t.Fatalf("redis %s: incomplete %v, %v/%v %s, %v", fc.name, res.Incomplete, c0.Status, c0.Why, c0.Value, c1.Status)
				}
			}
			var n uint64
			for _, r := range fc.reasons {
				n += fallbacks(e.s, "view:user_stats", "absent", r)
			}
			if n != uint64(testBreaker.Failures) {
				t.Errorf("fallbacks for %v = %d (%+v)", fc.reasons, n, e.s.Fallbacks())
			}
			if d := dependency(t, e.s, "features:redis"); d.Breaker != "open" || !d.Down() {
				t.Fatalf("after %d failures: %+v", testBreaker.Failures, d)
			}
			// Open: no call at all, the same fallback.
			p0 := e.hc.pipelines.Load()
			if res := read(); !res.Incomplete || res.Cell(0, 0).Status != StatusDefault {
				t.Fatalf("breaker open: %+v", res.Cells)
			}
			if e.hc.pipelines.Load() != p0 || fallbacks(e.s, "view:user_stats", "absent", ReasonBreakerOpen) == 0 {
				t.Errorf("an open breaker sent a pipeline (or did not count the fallback: %+v)", e.s.Fallbacks())
			}
			if err := e.s.Push(context.Background(), "user_stats", []PushRow{{Entity: map[string]string{"user_id": "u1"},
				Values: map[string][]byte{"clicks_7d": raw(1)}}}); KindOf(err) != Unavailable || !errors.Is(err, ErrBreakerOpen) {
				t.Errorf("push with the breaker open: %v", err)
			}
			// Recovery: the breaker probes after its cooldown and closes.
			fc.clear(e)
			testwait.For(t, 5*time.Second, "reads from redis again", func() bool {
				// A restarted Redis lost its data: write it again once it takes writes.
				if e.s.Push(context.Background(), "user_stats", []PushRow{{Entity: map[string]string{"user_id": "u1"},
					Values: map[string][]byte{"clicks_7d": raw(12)}}}) != nil {
					return false
				}
				res := read()
				return !res.Incomplete && res.Cell(0, 0).Status == StatusPresent
			})
			if d := dependency(t, e.s, "features:redis"); d.Breaker != "closed" || d.Skipped == 0 {
				t.Errorf("after recovery: %+v", d)
			}
		})
	}
}

// httpFaults are what the feature and model servers do wrong, and the
// fallback reason each must be counted under.
var httpFaults = []struct {
	name   string
	mode   int32
	reason Reason
}{
	{"5xx", fault5xx, ReasonError},
	{"hung", faultHang, ReasonTimeout},
	{"slow", faultSlow, ReasonTimeout},
}

func TestHTTPViewFaultsFallBackAndRecover(t *testing.T) {
	for _, fc := range httpFaults {
		t.Run(fc.name, func(t *testing.T) {
			fs := newFeastServer(t)
			cfg := httpRegistry(fs.URL)
			v := &cfg.Views[len(cfg.Views)-1]
			v.Budget = 50 * time.Millisecond
			v.Source.Timeout = 100 * time.Millisecond
			v.Source.Breaker = testBreaker
			e := newEnv(t, cfg)
			logOnce := callLog(t)
			next := 100 // a new item per read: no cached row answers
			read := func(id string) *Result {
				t.Helper()
				if id == "" {
					next++
					id = itoa(int64(next))
				}
				q := mustQuery(t, e.s, []string{"remote_scores:score"}, []string{"item_id"}, [][]string{{id}})
				start := time.Now()
				res := mustGet(t, e.s, q)
				logOnce("read", start, res.Incomplete)
				return res
			}
			fs.fault.mode.Store(fc.mode)
			res := read("")
			if c := res.Cell(0, 0); !res.Incomplete || c.Status != StatusDefault || string(c.Value) != "-1" {
				t.Fatalf("upstream %s: incomplete %v, %v %s", fc.name, res.Incomplete, c.Status, c.Value)
			}
			if n := fallbacks(e.s, "view:remote_scores", "absent", fc.reason); n != 1 {
				t.Errorf("fallbacks for %v = %d (%+v)", fc.reason, n, e.s.Fallbacks())
			}
			// Fills end after the read that started them (at the view's
			// budget): read until the breaker has seen enough failures.
			testwait.For(t, 5*time.Second, "the breaker to open", func() bool {
				read("")
				return dependency(t, e.s, "view:remote_scores").Breaker == "open"
			})
			calls := fs.calls.Load()
			if res := read(""); !res.Incomplete || fs.calls.Load() != calls {
				t.Errorf("breaker open: incomplete %v, %d upstream calls", res.Incomplete, fs.calls.Load()-calls)
			}
			if fallbacks(e.s, "view:remote_scores", "absent", ReasonBreakerOpen) == 0 {
				t.Errorf("no breaker_open fallback counted: %+v", e.s.Fallbacks())
			}
			fs.fault.mode.Store(faultNone)
			testwait.For(t, 5*time.Second, "the upstream to answer again", func() bool {
				res := read("1")
				return !res.Incomplete && res.Cell(0, 0).Status == StatusPresent && string(res.Cell(0, 0).Value) == "0.5"
			})
			if d := dependency(t, e.s, "view:remote_scores"); d.Breaker != "closed" {
				t.Errorf("after recovery: %+v", d)
			}
		})
	}
}

func TestModelFaultsFallBackAndRecover(t *testing.T) {
	for _, fc := range httpFaults {
		t.Run(fc.name, func(t *testing.T) {
			o := newOIPServer(t)
			def := -1.0
			cfg := predictRegistry(o.URL, "1", &def)
			m := &cfg.Models[1]
			m.Budget = 80 * time.Millisecond
			m.Backend.Timeout = 50 * time.Millisecond
			m.Backend.Breaker = testBreaker
			e := newEnv(t, cfg)
			logOnce := callLog(t)
			clicks := 1
			predictU1U2 := func() *PredictResult {
				t.Helper()
				clicks++ // a new input vector: the prediction cache cannot answer
				setClicks(t, e, "u1", clicks)
				start := time.Now()
				res, err := predict(t, e.s, "sum", `{"entities":[{"user_id":"u1"},{"user_id":"u2"}]}`)
				if err != nil {
					t.Fatal(err)
				}
				logOnce("predict", start, res.Rows)
				return res
			}
			if res := predictU1U2(); res.Rows[0] != (Prediction{2.25, SourceModel}) {
				t.Fatalf("healthy: %+v", res.Rows)
			}
			e.s.Wait() // u1's last good prediction is kept, here and in Redis
			o.fault.mode.Store(fc.mode)
			noInputs := fallbacks(e.s, "model:sum", "default", ReasonNoInputs)
			res := predictU1U2()
			if res.Rows[0] != (Prediction{2.25, SourceStale}) || res.Rows[1] != (Prediction{-1, SourceDefault}) {
				t.Fatalf("model %s: %+v, want u1 stale 2.25, u2 default -1", fc.name, res.Rows)
			}
			// u2 has no features at all: the model is not even asked.
			if fallbacks(e.s, "model:sum", "stale", fc.reason) != 1 || fallbacks(e.s, "model:sum", "default", ReasonNoInputs) != noInputs+1 {
				t.Errorf("fallbacks: %+v", e.s.Fallbacks())
			}
			// Another replica, which never predicted for u1, finds its last
			// good prediction in Redis.
			s2, err := New(cfg, Options{Redis: e.rdb, Cache: newCache(t, e)})
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			s2.now = e.clk.Now
			if res, err := predict(t, s2, "sum", `{"entities":[{"user_id":"u1"}]}`); err != nil || res.Rows[0] != (Prediction{2.25, SourceStale}) {
				t.Errorf("replica: %+v %v, want the last good prediction from Redis", res, err)
			}
			testwait.For(t, 5*time.Second, "the breaker to open", func() bool {
				predictU1U2()
				return dependency(t, e.s, "model:sum").Breaker == "open"
			})
			calls := o.calls.Load()
			if res := predictU1U2(); res.Rows[0].Source != SourceStale || o.calls.Load() != calls {
				t.Errorf("breaker open: %+v, %d model calls", res.Rows, o.calls.Load()-calls)
			}
			if fallbacks(e.s, "model:sum", "stale", ReasonBreakerOpen) == 0 {
				t.Errorf("no breaker_open fallback counted: %+v", e.s.Fallbacks())
			}
			o.fault.mode.Store(faultNone)
			testwait.For(t, 5*time.Second, "the model to answer again", func() bool {
				return predictU1U2().Rows[0].Source == SourceModel
			})
			if d := dependency(t, e.s, "model:sum"); d.Breaker != "closed" {
				t.Errorf("after recovery: %+v", d)
			}
		})
	}
}

// Feature inputs that cannot be read fall back per row too: to the
// features' defaults (the model is asked), else to stale/default.
func TestPredictionWithRedisDown(t *testing.T) {
	o := newOIPServer(t)
	def := -1.0
	cfg := predictRegistry(o.URL, "1", &def)
	cfg.Breaker = testBreaker
	cfg.RedisTimeout = 30 * time.Millisecond
	e := newEnv(t, cfg)
	setClicks(t, e, "u1", 1)
	e.srv.Kill()
	e.clk.Advance(time.Minute) // past RowTTL
	res, err := predict(t, e.s, "sum", `{"entities":[{"user_id":"u1"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	// clicks_7d has a default (0), ctr_7d has none: no input vector.
	if res.Rows[0] != (Prediction{-1, SourceDefault}) || !res.Incomplete {
		t.Errorf("redis down: %+v incomplete %v, want the default", res.Rows, res.Incomplete)
	}
	if fallbacks(e.s, "model:sum", "default", ReasonNoInputs) != 1 {
		t.Errorf("fallbacks: %+v", e.s.Fallbacks())
	}
}
