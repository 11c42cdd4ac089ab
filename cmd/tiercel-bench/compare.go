package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/tiercel/tiercel/bench"
)

func compare(args []string) error {
	fs := flag.NewFlagSet("compare", flag.ExitOnError)
	var o bench.CompareOptions
	targets := fs.String("targets", "tiercel,bare,bare-jwt,nginx,varnish", "targets, of: tiercel, bare, bare-jwt, nginx, varnish, tiercel-noauth")
	out := fs.String("out", "bench/results/"+time.Now().Format("2006-01-02"), "results directory")
	fs.StringVar(&o.Stack.Tiercel, "tiercel", "bin/tiercel", "gateway binary")
	fs.IntVar(&o.Stack.CPU, "server-cpu", 0, "CPU the servers are pinned to (-1: not pinned)")
	fs.IntVar(&o.GenCPU, "load-cpu", 1, "CPU the load generators are pinned to (-1: not pinned)")
	fs.IntVar(&o.Rounds, "rounds", 3, "alternating rounds")
	fs.IntVar(&o.Conns, "conns", 64, "connections")
	fs.DurationVar(&o.MaxDuration, "duration", 5*time.Second, "one max-throughput run")
	fs.DurationVar(&o.OpenDuration, "open-duration", 5*time.Second, "one open-loop run")
	fs.DurationVar(&o.Warmup, "warmup", 2*time.Second, "warm-up per target")
	fs.Float64Var(&o.OpenFraction, "open-fraction", 0.5, "open-loop rate as a fraction of each target's max")
	fs.StringVar(&o.Generator, "gen", "wrk", "max-throughput generator: wrk or go")
	quiet := fs.Bool("q", false, "no progress lines on stderr")
	_ = fs.Parse(args)
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %s", strings.Join(fs.Args(), " "))
	}
	if err := pinSelf(o.GenCPU); err != nil {
		return err
	}
	o.Targets = strings.Split(*targets, ",")
	o.Stack.Dir = filepath.Join(*out, "logs", "compare")
	if err := os.MkdirAll(o.Stack.Dir, 0o755); err != nil {
		return err
	}
	o.Log = os.Stderr
	if !*quiet {
		o.Progress = os.Stderr
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	info := runInfo(o.GenCPU, o.Stack.CPU, "gateway, bare, origins, nginx, varnishd; wrk too runs on the load generator's CPU")
	info.Notes = append(info.Notes[:len(info.Notes):len(info.Notes)],
		"targets alternate within each round, so drift on the shared machine hits them alike; all targets stay up (idle) while another is measured",
		"server CPU µs/req is the server processes' CPU time (from /proc/<pid>/stat, children included, origins excluded) over the requests of the run: near the generator's limit a req/s ratio cannot tell servers apart, CPU per request can")
	cmp, err := bench.Compare(ctx, o)
	if err != nil {
		return err
	}
	info.Notes = append(info.Notes, "load average after the run: "+loadAvg())
	if err := bench.WriteComparison(*out, info, cmp); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s\n", filepath.Join(*out, "compare.md"))
	return nil
}
