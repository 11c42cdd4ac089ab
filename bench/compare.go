package bench

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/tiercel/tiercel/internal/defaults"
)

// CompareOptions configure Compare. Zero values are the documented defaults.
type CompareOptions struct {
	// Stack starts the targets; its CPU is the servers' CPU (0 in the CLI).
	Stack StackOptions
	// Targets are names from CompareTargets; default tiercel, bare, bare-jwt, nginx,
	// varnish.
	Targets []string
	// Rounds of alternation; default 3.
	Rounds int
	// Conns for both phases; default 64, as wrk -c64 in PLATFORM.md.
	Conns int
	// MaxDuration is one closed-loop max-throughput run; default 5s.
	MaxDuration time.Duration
	// OpenDuration is one open-loop run at half the max; default 5s.
	OpenDuration time.Duration
	// Warmup is one unmeasured closed-loop run per target before the
	// rounds; default 2s.
	Warmup time.Duration
	// Generator is "wrk" (default) or "go" (tiercel-bench's closed loop)
	// for the max-throughput phase; the other one is run against bare in
	// every round as a check of which one saturates the server.
	Generator string
	// GenCPU pins wrk; -1 leaves it unpinned.
	GenCPU int
	// OpenFraction of each target's median max rate is the open-loop
	// rate; default 0.5.
	OpenFraction float64
	// Progress receives the open-loop progress lines; Log the tool's notes.
	Progress, Log io.Writer
}

func (o CompareOptions) withDefaults() CompareOptions {
	if len(o.Targets) == 0 {
		o.Targets = []string{"tiercel", "bare", "bare-jwt", "nginx", "varnish"}
	}
	defaults.Set(&o.Rounds, 3)
	defaults.Set(&o.Conns, 64)
	defaults.Set(&o.MaxDuration, 5*time.Second)
	defaults.Set(&o.OpenDuration, 5*time.Second)
	defaults.Set(&o.Warmup, 2*time.Second)
	defaults.Set(&o.Generator, "wrk")
	defaults.Set(&o.OpenFraction, 0.5)
	defaults.Set(&o.Log, io.Discard)
	return o
}

// CompareTarget is one server the comparison can start.
type CompareTarget struct {
	Name, Description string
	start             func(StackOptions) (*Stack, error)
}

// CompareTargets are the servers Compare knows. Each serves a 1 KiB body
// on GET /api/products/1: bare answers it directly, the others from their
// cache after the first request.
var CompareTargets = []CompareTarget{
	{"tiercel", "Tiercel L1 hit, JWT (HS256, verified-token cache) + rate limit on", func(o StackOptions) (*Stack, error) {
		return StartTiercel(o, GatewaySpec{})
	}},
	{"bare", "bare fasthttp handler, fixed 1 KiB body (the limit)", StartBare},
	{"bare-jwt", "bare fasthttp handler sent Tiercel's request (a JWT of the same size, ignored)", StartBareJWT},
	{"nginx", "nginx proxy_cache hit (one worker)", StartNginx},
	{"varnish", "Varnish cache hit (one thread pool)", StartVarnish},
	{"tiercel-noauth", "Tiercel L1 hit, no JWT, no rate limit", func(o StackOptions) (*Stack, error) {
		off := false
		return StartTiercel(o, GatewaySpec{Auth: &off, RateLimit: &off})
	}},
}

const comparePath = "/api/products/1"

// MaxRun is one closed-loop max-throughput run.
type MaxRun struct {
	Generator string  `json:"generator"`
	Rate      float64 `json:"rate"`
	Requests  int64   `json:"requests"`
	Errors    int64   `json:"errors"`
	P50       int64   `json:"p50_us"`
	P99       int64   `json:"p99_us"`
	P999      int64   `json:"p999_us"`
	CPUPerReq float64 `json:"server_cpu_us_per_req"`
}

// TargetResult is one target's figures over all rounds.
type TargetResult struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Max         []MaxRun `json:"max_runs"`
	// Median is the round with the median rate; Ratio its rate over bare's.
	Median MaxRun  `json:"median"`
	Ratio  float64 `json:"ratio_to_bare"`
	// Open is the open-loop runs at OpenFraction of Median.Rate, merged.
	Open          *Result `json:"open"`
	OpenCPUPerReq float64 `json:"open_server_cpu_us_per_req"`
}

// Comparison is Compare's outcome.
type Comparison struct {
	Options struct {
		Rounds       int     `json:"rounds"`
		Conns        int     `json:"conns"`
		MaxDuration  float64 `json:"max_duration_s"`
		OpenDuration float64 `json:"open_duration_s"`
		Generator    string  `json:"generator"`
		OpenFraction float64 `json:"open_fraction"`
	} `json:"options"`
	Targets []*TargetResult `json:"targets"`
	// Check is the other generator's closed loop against bare, per round.
	Check []MaxRun `json:"generator_check"`
}

// Compare starts every target, warms each up, then measures max throughput
// in Rounds alternating rounds and, at OpenFraction of each target's
// median max, open-loop latency in Rounds more.
func Compare(ctx context.Context, o CompareOptions) (*Comparison, error) {
	o = o.withDefaults()
	if o.Generator != "wrk" && o.Generator != "go" {
		return nil, fmt.Errorf("generator %q: want wrk or go", o.Generator)
	}
	if !slices.Contains(o.Targets, "bare") {
		return nil, fmt.Errorf("targets %v: bare is needed, every ratio is to it", o.Targets)
	}
	wrk, err := newWrkRunner(o.Stack.Dir, o.GenCPU)
	if err != nil {
		return nil, err
	}
	c := &comparer{o: o, wrk: wrk}
	defer c.close()
	if err := c.start(); err != nil {
		return nil, err
	}
	return c.run(ctx)
}

type comparer struct {
	o       CompareOptions
	wrk     *wrkRunner
	stacks  []*Stack
	results []*TargetResult
}

func (c *comparer) close() {
	for _, s := range c.stacks {
		s.Close()
	}
}

func (c *comparer) start() error {
	for _, name := range c.o.Targets {
		i := slices.IndexFunc(CompareTargets, func(t CompareTarget) bool { return t.Name == name })
		if i < 0 {
			return fmt.Errorf("unknown target %q", name)
		}
		t := CompareTargets[i]
		fmt.Fprintf(c.o.Log, "starting %s\n", t.Name)
		so := c.o.Stack
		so.Dir = filepath.Join(so.Dir, t.Name)
		if err := mkdir(so.Dir); err != nil {
			return err
		}
		st, err := t.start(so)
		if err != nil {
			return fmt.Errorf("cannot start %s: %w", t.Name, err)
		}
		c.stacks = append(c.stacks, st)
		c.results = append(c.results, &TargetResult{Name: t.Name, Description: t.Description})
	}
	return nil
}

func (c *comparer) run(ctx context.Context) (*Comparison, error) {
	o := c.o
	out := &Comparison{Targets: c.results}
	out.Options.Rounds, out.Options.Conns, out.Options.Generator = o.Rounds, o.Conns, o.Generator
	out.Options.MaxDuration, out.Options.OpenDuration = o.MaxDuration.Seconds(), o.OpenDuration.Seconds()
	out.Options.OpenFraction = o.OpenFraction
	check := "go"
	if o.Generator == "go" {
		check = "wrk"
	}
	bare := slices.Index(o.Targets, "bare")

	for i, st := range c.stacks {
		fmt.Fprintf(o.Log, "warm-up %s\n", c.results[i].Name)
		if _, err := c.maxRun(ctx, o.Generator, st, o.Warmup); err != nil {
			return nil, fmt.Errorf("%s: %w", c.results[i].Name, err)
		}
	}
	for round := 1; round <= o.Rounds; round++ {
		for i, st := range c.stacks {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			r, err := c.maxRun(ctx, o.Generator, st, o.MaxDuration)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", c.results[i].Name, err)
			}
			fmt.Fprintf(o.Log, "round %d/%d max %-14s %9.0f req/s  p99 %s  cpu %.2f µs/req  errors %d\n",
				round, o.Rounds, c.results[i].Name, r.Rate, fmtUS(r.P99), r.CPUPerReq, r.Errors)
			c.results[i].Max = append(c.results[i].Max, r)
			if i == bare {
				r, err := c.maxRun(ctx, check, st, o.MaxDuration)
				if err != nil {
					return nil, fmt.Errorf("generator check: %w", err)
				}
				fmt.Fprintf(o.Log, "round %d/%d max %-14s %9.0f req/s  (%s generator check)\n", round, o.Rounds, "bare", r.Rate, check)
				out.Check = append(out.Check, r)
			}
		}
	}
	for _, t := range c.results {
		t.Median = medianRun(t.Max)
	}
	for _, t := range c.results {
		if b := c.results[bare].Median.Rate; b > 0 {
			t.Ratio = t.Median.Rate / b
		}
	}
	if err := c.openRounds(ctx); err != nil {
		return nil, err
	}
	return out, nil
}

// openRounds measures each target at OpenFraction of its own max, rounds
// alternating, and merges each target's rounds.
func (c *comparer) openRounds(ctx context.Context) error {
	o := c.o
	runs := make([][]*Result, len(c.stacks))
	cpu := make([]time.Duration, len(c.stacks))
	for round := 1; round <= o.Rounds; round++ {
		for i, st := range c.stacks {
			t := c.results[i]
			rate := t.Median.Rate * o.OpenFraction
			if rate <= 0 {
				return fmt.Errorf("%s: no max rate to take a fraction of", t.Name)
			}
			fmt.Fprintf(o.Log, "round %d/%d open %s at %.0f req/s\n", round, o.Rounds, t.Name, rate)
			cpu0, err := st.CPU()
			if err != nil {
				return err
			}
			res, err := Load(ctx, Config{
				Name: t.Name, URL: st.URL + comparePath, Headers: st.Headers, Rate: rate,
				Conns: o.Conns, Duration: o.OpenDuration, Warmup: time.Second, Progress: o.Progress,
			})
			if err != nil {
				return fmt.Errorf("%s: %w", t.Name, err)
			}
			cpu1, err := st.CPU()
			if err != nil {
				return err
			}
			cpu[i] += cpu1 - cpu0
			runs[i] = append(runs[i], res)
		}
	}
	for i, t := range c.results {
		t.Open = MergeResults(t.Name, runs[i]...)
		if t.Open.Completed > 0 {
			t.OpenCPUPerReq = float64(cpu[i].Microseconds()) / float64(t.Open.Completed)
		}
	}
	return nil
}

// maxRun is one closed-loop run with gen ("wrk" or "go"), with the server
// CPU time it cost.
func (c *comparer) maxRun(ctx context.Context, gen string, st *Stack, d time.Duration) (MaxRun, error) {
	cpu0, err := st.CPU()
	if err != nil {
		return MaxRun{}, err
	}
	r := MaxRun{Generator: gen}
	if gen == "wrk" {
		s, err := c.wrk.run(st.URL+comparePath, st.Headers, c.o.Conns, d)
		if err != nil {
			return MaxRun{}, err
		}
		r.Requests, r.Errors, r.P50, r.P99, r.P999 = s.Requests, s.errors(), s.P50, s.P99, s.P999
		r.Rate = float64(s.Requests) / (float64(s.DurationUS) / 1e6)
	} else {
		res, err := Load(ctx, Config{URL: st.URL + comparePath, Headers: st.Headers, Conns: c.o.Conns, Duration: d})
		if err != nil {
			return MaxRun{}, err
		}
		r.Requests, r.Errors, r.Rate = res.Completed, res.Errors, res.Rate
		r.P50, r.P99, r.P999 = res.Latency.P50, res.Latency.P99, res.Latency.P999
	}
	cpu1, err := st.CPU()
	if err != nil {
		return MaxRun{}, err
	}
	if r.Requests > 0 {
		r.CPUPerReq = float64((cpu1 - cpu0).Microseconds()) / float64(r.Requests)
	}
	return r, nil
}

// medianRun is the run with the median rate (the lower middle of an even
// count), so its latencies and CPU time come from one real run.
func medianRun(runs []MaxRun) MaxRun {
	if len(runs) == 0 {
		return MaxRun{}
	}
	s := slices.Clone(runs)
	sort.Slice(s, func(i, j int) bool { return s[i].Rate < s[j].Rate })
	return s[(len(s)-1)/2]
}
