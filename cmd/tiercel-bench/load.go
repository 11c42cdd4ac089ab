package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tiercel/tiercel/bench"
)

// headerFlags is the repeatable -H flag.
type headerFlags []bench.Header

func (h *headerFlags) String() string { return fmt.Sprint(*h) }

func (h *headerFlags) Set(s string) error {
	v, err := bench.ParseHeader(s)
	if err == nil {
		*h = append(*h, v)
	}
	return err
}

func load(args []string) error {
	var cfg bench.Config
	var headers headerFlags
	var body, dist, jsonPath string
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	fs.StringVar(&cfg.URL, "url", "", "target URL; {key} is replaced by a key drawn from -dist over [0, -keys)")
	fs.StringVar(&cfg.Method, "method", "GET", "HTTP method")
	fs.Var(&headers, "H", `request header "Name: value" (repeatable)`)
	fs.StringVar(&body, "body", "", "request body")
	fs.IntVar(&cfg.Keys, "keys", 0, "number of distinct keys for {key}")
	fs.StringVar(&dist, "dist", "uniform", "key distribution: uniform, zipf or seq")
	fs.Float64Var(&cfg.ZipfS, "zipf-s", 1.1, "Zipf exponent (> 1)")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of the key sequences")
	fs.Float64Var(&cfg.Rate, "rate", 0, "open-loop arrival rate in requests/s; 0 = closed loop (max throughput)")
	fs.IntVar(&cfg.Conns, "conns", 64, "connections, each with one request in flight")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "measured duration")
	fs.DurationVar(&cfg.Warmup, "warmup", time.Second, "unmeasured warm-up before -duration")
	fs.DurationVar(&cfg.Timeout, "timeout", 5*time.Second, "per-request timeout")
	fs.StringVar(&jsonPath, "json", "", "also write the result as JSON to this file")
	quiet := fs.Bool("q", false, "no progress lines on stderr")
	_ = fs.Parse(args)
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %s", strings.Join(fs.Args(), " "))
	}
	cfg.Headers, cfg.Dist = headers, bench.Dist(dist)
	if body != "" {
		cfg.Body = []byte(body)
	}
	if !*quiet {
		cfg.Progress = os.Stderr
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := bench.Load(ctx, cfg)
	if err != nil {
		return err
	}
	if err := bench.WriteMarkdown(os.Stdout, res); err != nil {
		return err
	}
	if jsonPath != "" {
		return bench.WriteJSONFile(jsonPath, res)
	}
	return nil
}
