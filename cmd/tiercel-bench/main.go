// Command tiercel-bench is Tiercel's benchmark CLI. Its logic lives in the
// bench package; this file only parses flags.
//
//	tiercel-bench bare -listen 127.0.0.1:9000 -size 1024
//
// serves the bare fasthttp baseline that every figure is compared against.
//
//	tiercel-bench bare -ref redis-get -redis redis://127.0.0.1:6379/0 -keys 50000
//
// serves a reference instead: bare plus one ristretto Get or one go-redis
// GET per request (the anchors in shared/PLATFORM.md), measured in the same
// run as the rows they calibrate.
//
//	tiercel-bench load -url http://127.0.0.1:9000/ -rate 20000 -conns 64 -duration 10s
//
// sends an open-loop load (constant arrival rate, latency from the intended
// send time; -rate 0 is closed loop) and prints a Markdown table.
//
//	tiercel-bench run [-scenarios bench/scenarios/default.yaml] [-out DIR]
//
// runs a scenarios file, starting a gateway per scenario, and writes
// report.md, results.json and SVG plots.
//
//	tiercel-bench compare [-targets tiercel,bare,nginx,varnish] [-out DIR]
//
// runs the same L1-hit load against Tiercel and its peers, alternating
// rounds, servers on CPU 0 and the load on CPU 1.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/tiercel/tiercel/bench"
)

const usage = `usage:
  tiercel-bench bare [-listen ADDR] [-size BYTES] [-ref ristretto|redis-get -keys N -redis URL]
  tiercel-bench load -url URL [-rate R] [-conns C] [-duration D] [flags]  (load -h for all)
  tiercel-bench run [-scenarios FILE] [-out DIR] [-only a,b] [-target URL -token T -admin URL]
  tiercel-bench kafka [-port P] [-topic T]   (a loopback broker for storms through Kafka)
  tiercel-bench compare [-targets tiercel,bare,nginx,varnish] [-rounds N] [-duration D] [-out DIR]`

func main() {
	if len(os.Args) < 2 {
		fail(2, usage)
	}
	var err error
	switch os.Args[1] {
	case "bare":
		err = bare(os.Args[2:])
	case "load":
		err = load(os.Args[2:])
	case "run":
		err = runSuite(os.Args[2:])
	case "compare":
		err = compare(os.Args[2:])
	case "kafka":
		err = kafka(os.Args[2:])
	default:
		fail(2, usage)
	}
	if err != nil {
		fail(1, "tiercel-bench: "+err.Error())
	}
}

func fail(code int, msg string) {
	fmt.Fprintln(os.Stderr, msg)
	os.Exit(code)
}

func bare(args []string) error {
	fs := flag.NewFlagSet("bare", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:9000", "listen address")
	size := fs.Int("size", 1024, "response body size in bytes")
	ref := fs.String("ref", "", "serve a reference instead: ristretto or redis-get (bare plus one lookup of /api/products/{id})")
	keys := fs.Int("keys", 50000, "with -ref: ids 1..keys are stored")
	redisURL := fs.String("redis", "", "with -ref redis-get: the Redis URL (its keys are written at start)")
	_ = fs.Parse(args)
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	var srv interface {
		Serve(net.Listener) error
		Shutdown() error
	}
	if *ref == "" {
		srv = bench.NewBare(*size)
	} else if srv, err = bench.NewReference(context.Background(), bench.RefConfig{
		Kind: bench.RefKind(*ref), Size: *size, Keys: *keys, RedisURL: *redisURL,
	}); err != nil {
		_ = ln.Close()
		return err
	}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		_ = srv.Shutdown()
	}()
	return srv.Serve(ln)
}

// kafka serves an in-memory Kafka broker on loopback for storms sent
// through Kafka; the suite starts it, pinned with the servers.
func kafka(args []string) error {
	fs := flag.NewFlagSet("kafka", flag.ExitOnError)
	port := fs.Int("port", 9092, "loopback port")
	topic := fs.String("topic", "tiercel.invalidations", "topic to create")
	partitions := fs.Int("partitions", 1, "partitions of the topic")
	_ = fs.Parse(args)
	b, err := bench.NewBroker(*port, *topic, int32(*partitions))
	if err != nil {
		return err
	}
	defer b.Close()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	return nil
}
