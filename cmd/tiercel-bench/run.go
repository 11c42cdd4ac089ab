package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/tiercel/tiercel/bench"
)

func runSuite(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	path := fs.String("scenarios", "bench/scenarios/default.yaml", "scenarios file")
	out := fs.String("out", "bench/results/"+time.Now().Format("2006-01-02"), "results directory")
	only := fs.String("only", "", "comma-separated scenario names to run (default all)")
	var opts bench.SuiteOptions
	fs.StringVar(&opts.Stack.Tiercel, "tiercel", "bin/tiercel", "gateway binary")
	fs.IntVar(&opts.Stack.CPU, "server-cpu", 0, "CPU the servers are pinned to (-1: not pinned)")
	genCPU := fs.Int("load-cpu", 1, "CPU the load generator is pinned to (-1: not pinned)")
	fs.StringVar(&opts.Target, "target", "", "existing gateway base URL: start nothing")
	fs.StringVar(&opts.Admin, "admin", "", "its admin base URL (invalidation storms)")
	fs.StringVar(&opts.Broker, "broker", "", "its Kafka broker host:port (storms with via: kafka)")
	fs.StringVar(&opts.Token, "token", os.Getenv("TIERCEL_BENCH_TOKEN"), "bearer token for -target (default $TIERCEL_BENCH_TOKEN)")
	quiet := fs.Bool("q", false, "no progress lines on stderr")
	_ = fs.Parse(args)
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %s", strings.Join(fs.Args(), " "))
	}
	suite, err := bench.LoadSuite(*path)
	if err != nil {
		return err
	}
	if err := pinSelf(*genCPU); err != nil {
		return err
	}
	if *only != "" {
		opts.Only = strings.Split(*only, ",")
	}
	logs := filepath.Join(*out, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		return err
	}
	opts.Stack.Dir, opts.Log = logs, os.Stderr
	if !*quiet {
		opts.Progress = os.Stderr
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	info := runInfo(*genCPU, opts.Stack.CPU, "gateway, origin, redis-server")
	results, err := bench.RunSuite(ctx, suite, opts)
	if len(results) > 0 {
		info.Notes = append(info.Notes, "load average after the run: "+loadAvg())
		if werr := bench.WriteSuite(*out, info, results); werr != nil {
			return werr
		}
		fmt.Fprintf(os.Stderr, "wrote %s\n", filepath.Join(*out, "report.md"))
	}
	return err
}

// runInfo records the machine and how the run was pinned; the notes say
// what the figures can and cannot be used for.
func runInfo(genCPU, serverCPU int, servers string) bench.RunInfo {
	host, _ := os.Hostname()
	info := bench.RunInfo{
		Date:    time.Now().UTC().Format(time.RFC3339),
		Command: "tiercel-bench " + strings.Join(os.Args[1:], " "),
		Machine: fmt.Sprintf("%s, %d CPUs, %s/%s, %s", host, machineCPUs(), runtime.GOOS, runtime.GOARCH, runtime.Version()),
	}
	if serverCPU >= 0 {
		info.Notes = append(info.Notes, fmt.Sprintf("servers (%s) pinned to CPU %d (Go ones with GOMAXPROCS=1); load generator on CPU %d with GOMAXPROCS=1", servers, serverCPU, genCPU))
	}
	info.Notes = append(info.Notes,
		"open-loop latencies count from each request's intended send time, so queueing behind a slow answer is included (no coordinated omission)",
		"load average before the run: "+loadAvg())
	return info
}

func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// machineCPUs counts the machine's CPUs: runtime.NumCPU sees only the
// one this pinned process may use.
func machineCPUs() int {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.NumCPU()
	}
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "processor") {
			n++
		}
	}
	return max(n, 1)
}
