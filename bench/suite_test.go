package bench

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// binaries builds the gateway and this tool once per test binary: the
// suite starts them as real processes.
var binaries = sync.OnceValues(func() (StackOptions, error) {
	dir, err := os.MkdirTemp("", "tiercel-bench-test")
	if err != nil {
		return StackOptions{}, err
	}
	o := StackOptions{Tiercel: filepath.Join(dir, "tiercel"), Self: filepath.Join(dir, "tiercel-bench"), CPU: -1}
	for bin, pkg := range map[string]string{o.Tiercel: "../cmd/tiercel", o.Self: "../cmd/tiercel-bench"} {
		if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
			return o, &buildError{pkg, string(out), err}
		}
	}
	return o, nil
})

type buildError struct {
	pkg, out string
	err      error
}

func (e *buildError) Error() string {
	return "cannot build " + e.pkg + ": " + e.err.Error() + "\n" + e.out
}

func stackOptions(t *testing.T) StackOptions {
	t.Helper()
	if testing.Short() {
		t.Skip("starts gateways, origins and redis-server")
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server is needed (make deps installs it): %v", err)
	}
	o, err := binaries()
	if err != nil {
		t.Fatal(err)
	}
	o.Dir = t.TempDir()
	return o
}

// The suite starts what each scenario needs, mints a token the gateway
// accepts, uses a rate-limit policy that admits the load, and counts the
// X-Cache outcomes each scenario is about. No figure is asserted: only
// what was served.
func TestRunSuiteAgainstRealGateways(t *testing.T) {
	o := stackOptions(t)
	suite, err := ParseSuite([]byte(`
defaults: {conns: 4, duration: 1s, warmup: 200ms}
scenarios:
  - name: storm
    requests: [{path: '/api/products/{key}', keys: 50, dist: zipf}]
    prefill: true
    rate: 300
    invalidate: {rate: 100, tag: 'product:{key}', keys: 50}
  - name: kafka
    gateway: {kafka: true}
    requests: [{path: '/api/products/{key}', keys: 50, dist: zipf}]
    prefill: true
    rate: 300
    invalidate: {rate: 100, tag: 'product:{key}', keys: 50, via: kafka}
  - name: l2
    gateway: {redis: true, l1_bytes: 1048576}
    requests: [{path: '/api/products/{key}', keys: 3000}]
    prefill: true
    rate: 300
  - name: l2-cluster
    gateway: {redis_cluster: 3, l1_bytes: 1048576}
    requests: [{path: '/api/products/{key}', keys: 3000}]
    prefill: true
    rate: 300
  - name: miss
    requests: [{path: '/api/products/{key}', keys: 100000000, dist: seq}]
    rate: 200
  - name: mixed
    requests:
      - {method: POST, path: /v1/features, body: '{"features":["user_stats:clicks_7d"],"entities":[{items}]}', items: {count: 3, template: '{"user_id":"u{key}"}'}, keys: 1000, key_base: 1}
      - {method: POST, path: /v1/models/churn/predict, body: '{"entities":[{"user_id":"u{key}"}]}', keys: 1000, key_base: 1}
    rate: 200
`))
	if err != nil {
		t.Fatal(err)
	}
	results, err := RunSuite(context.Background(), suite, SuiteOptions{Stack: o})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*ScenarioResult{}
	for _, r := range results {
		byName[r.Name] = r
		if res := r.Result; res.Errors != 0 || res.OK == 0 || res.OK != res.Requests {
			t.Errorf("%s: %d ok of %d, errors %v %v", r.Name, res.OK, res.Requests, res.Status, res.Transport)
		}
		if r.CPUPerReq <= 0 {
			t.Errorf("%s: no server CPU time per request", r.Name)
		}
	}
	if len(byName) != 6 {
		t.Fatalf("results for %d scenarios, want 6", len(byName))
	}
	// Through the admin listener and through Kafka, invalidations are
	// accepted and applied: reads miss on the entries they dropped.
	for _, name := range []string{"storm", "kafka"} {
		storm := byName[name]
		if st := storm.Storm; st == nil || st.OK == 0 || st.Errors != 0 {
			t.Errorf("%s: %+v", name, st)
		}
		if x := storm.Result.XCache; x["HIT-L1"] == 0 || x["MISS"] == 0 || storm.Prefill != 50 {
			t.Errorf("%s: X-Cache %v after %d prefill requests: want L1 hits and the misses invalidations cause", name, x, storm.Prefill)
		}
	}
	for _, name := range []string{"l2", "l2-cluster"} {
		if x := byName[name].Result.XCache; x["HIT-L2"] == 0 {
			t.Errorf("%s: X-Cache %v: want L2 hits", name, x)
		}
	}
	if r := byName["miss"].Result; r.XCache["MISS"] != r.OK {
		t.Errorf("miss: X-Cache %v of %d: want every answer a miss", r.XCache, r.OK)
	}

	out := filepath.Join(o.Dir, "report")
	if err := WriteSuite(out, RunInfo{Date: "today"}, results); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"report.md", "results.json", "storm-percentiles.svg", "mixed-timeline.svg"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("report file: %v", err)
		}
	}
}

// Compare runs its two phases against real servers. Only shapes are
// checked: which generator is faster here is for the report to say.
func TestCompareTiercelAndBare(t *testing.T) {
	o := stackOptions(t)
	if _, err := exec.LookPath("wrk"); err != nil {
		t.Fatalf("wrk is needed (make deps installs it): %v", err)
	}
	cmp, err := Compare(context.Background(), CompareOptions{
		Stack: o, Targets: []string{"tiercel", "bare"}, Rounds: 2, Conns: 4, GenCPU: -1,
		MaxDuration: time.Second, OpenDuration: 500 * time.Millisecond, Warmup: 200 * time.Millisecond,
		// A small fraction: this test binary (under -race) is the open-loop
		// generator, and it must keep up whatever the servers' max.
		OpenFraction: 0.02,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(cmp.Targets) != 2 || len(cmp.Check) != 2 || cmp.Check[0].Generator != "go" {
		t.Fatalf("comparison %+v", cmp)
	}
	for _, tr := range cmp.Targets {
		if len(tr.Max) != 2 || tr.Median.Rate <= 0 || tr.Median.CPUPerReq <= 0 || tr.Median.Errors != 0 {
			t.Errorf("%s: max runs %+v", tr.Name, tr.Max)
		}
		if tr.Open == nil || tr.Open.Errors != 0 || tr.Open.OK == 0 || tr.Open.Target != tr.Median.Rate*0.02 {
			t.Errorf("%s: open loop %+v", tr.Name, tr.Open)
		}
	}
	tc, bare := cmp.Targets[0], cmp.Targets[1]
	if bare.Ratio != 1 || tc.Ratio != tc.Median.Rate/bare.Median.Rate {
		t.Errorf("ratios: tiercel %v bare %v", tc.Ratio, bare.Ratio)
	}
	if tc.Open.XCache["HIT-L1"] != tc.Open.OK {
		t.Errorf("tiercel open loop X-Cache %v: want only L1 hits", tc.Open.XCache)
	}
	out := filepath.Join(o.Dir, "report")
	if err := WriteComparison(out, RunInfo{Date: "today"}, cmp); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(out, "compare.md"))
	if err != nil || !strings.Contains(string(data), "ratio to bare") {
		t.Errorf("compare.md: %v\n%s", err, data)
	}
}
