package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tiercel/tiercel/internal/defaults"
)

// SuiteOptions configure RunSuite.
type SuiteOptions struct {
	// Stack says how to start each scenario's gateway; its Dir is the
	// parent of one log directory per scenario.
	Stack StackOptions
	// Target, when set, is an existing gateway's base URL: nothing is
	// started, Token is sent as a bearer token (if set), Admin is its
	// admin listener and Broker its Kafka broker (for invalidation storms).
	Target, Admin, Token, Broker string
	// Only runs the named scenarios; empty runs all.
	Only []string
	// Progress receives the live progress lines; Log the tool's notes.
	Progress, Log io.Writer
}

// ScenarioResult is one scenario's outcome.
type ScenarioResult struct {
	Name        string  `json:"name"`
	Description string  `json:"description,omitempty"`
	Target      string  `json:"target"` // what served it
	Result      *Result `json:"result"`
	// Prefill is how many unmeasured requests filled the cache first.
	Prefill int64        `json:"prefill_requests,omitempty"`
	Storm   *StormResult `json:"invalidation,omitempty"`
	// CPUPerReq is the server processes' CPU time per request, in µs,
	// over the whole run (warm-up included): gateway, and redis-server
	// when it serves L2. 0 when unknown (an existing target).
	CPUPerReq float64 `json:"server_cpu_us_per_req,omitempty"`
}

// RunSuite runs the suite's scenarios in order, each against a freshly
// started gateway (or opts.Target), and returns their results.
func RunSuite(ctx context.Context, s *Suite, opts SuiteOptions) ([]*ScenarioResult, error) {
	defaults.Set(&opts.Log, io.Discard)
	for _, name := range opts.Only {
		if !slices.ContainsFunc(s.Scenarios, func(sc Scenario) bool { return sc.Name == name }) {
			return nil, fmt.Errorf("no scenario %q", name)
		}
	}
	var out []*ScenarioResult
	for i := range s.Scenarios {
		sc := &s.Scenarios[i]
		if len(opts.Only) > 0 && !slices.Contains(opts.Only, sc.Name) {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		fmt.Fprintf(opts.Log, "== %s\n", strings.TrimSuffix(sc.Name+": "+sc.Description, ": "))
		res, err := runScenario(ctx, s.Defaults, sc, opts)
		if err != nil {
			return out, fmt.Errorf("scenario %s: %w", sc.Name, err)
		}
		out = append(out, res)
	}
	return out, nil
}

func runScenario(ctx context.Context, d Defaults, sc *Scenario, opts SuiteOptions) (*ScenarioResult, error) {
	out := &ScenarioResult{Name: sc.Name, Description: sc.Description}
	var st *Stack
	if opts.Target != "" {
		st = &Stack{URL: opts.Target, Admin: opts.Admin, Broker: opts.Broker}
		if opts.Token != "" {
			st.Headers = []Header{{Name: "Authorization", Value: "Bearer " + opts.Token}}
		}
		out.Target = opts.Target
	} else {
		so := opts.Stack
		so.Dir = filepath.Join(opts.Stack.Dir, sc.Name)
		if err := os.MkdirAll(so.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("cannot make the log directory: %w", err)
		}
		var err error
		if st, err = StartTiercel(so, sc.Gateway); err != nil {
			return nil, err
		}
		defer st.Close()
		out.Target = describeGateway(sc)
	}
	var storm *storm
	if sc.Invalidate != nil {
		var err error
		if storm, err = newStorm(*sc.Invalidate, st.Admin, st.Broker); err != nil {
			return nil, err
		}
	}
	for _, pc := range sc.prefillConfigs(st.URL, st.Headers, 32) {
		res, err := Load(ctx, pc)
		if err != nil {
			return nil, fmt.Errorf("cannot prefill: %w", err)
		}
		if res.Errors > 0 {
			return nil, fmt.Errorf("prefill: %d errors (%v %v)", res.Errors, res.Status, res.Transport)
		}
		out.Prefill += res.Requests
	}
	cfg := sc.Config(d, st.URL, st.Headers)
	cfg.Progress = opts.Progress
	cpu0, cpuErr := st.CPU()

	var stormDone chan *StormResult
	stopStorm := func() {}
	if storm != nil {
		var stormCtx context.Context
		stormCtx, stopStorm = context.WithCancel(ctx)
		defer stopStorm()
		stormDone = make(chan *StormResult, 1)
		go func() { stormDone <- storm.run(stormCtx) }()
	}
	res, err := Load(ctx, cfg)
	if stormDone != nil {
		stopStorm()
		out.Storm = <-stormDone
	}
	if err != nil {
		return nil, err
	}
	out.Result = res
	if cpu1, err := st.CPU(); err == nil && cpuErr == nil && len(st.measured) > 0 {
		if n := res.Completed; n > 0 {
			out.CPUPerReq = float64((cpu1 - cpu0).Microseconds()) / float64(n)
		}
	}
	return out, nil
}

func describeGateway(sc *Scenario) string {
	g := sc.Gateway
	d := "tiercel"
	switch {
	case g.RedisCluster > 0:
		d += fmt.Sprintf(", L1+L2 (Redis Cluster, %d masters)", g.RedisCluster)
		if g.ClusterScripts {
			d += ", one script per master"
		}
	case g.Redis:
		d += ", L1+L2 (redis-server)"
	default:
		d += ", L1 only"
	}
	if g.L1Bytes > 0 {
		d += fmt.Sprintf(", L1 %d MiB", g.L1Bytes>>20)
	}
	if sc.authOn() {
		d += ", JWT"
	}
	if sc.rateLimitOn() {
		d += ", rate limit"
	}
	return d
}
