// Command tiercel-bench is Tiercel's benchmark CLI. Its logic lives in the
// bench package; this file only parses flags.
//
//	tiercel-bench bare -listen 127.0.0.1:9000 -size 1024
//
// serves the bare fasthttp baseline that wrk figures are compared against.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/tiercel/tiercel/bench"
)

func main() {
	if len(os.Args) < 2 || os.Args[1] != "bare" {
		fmt.Fprintln(os.Stderr, "usage: tiercel-bench bare [-listen ADDR] [-size BYTES]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("bare", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:9000", "listen address")
	size := fs.Int("size", 1024, "response body size in bytes")
	_ = fs.Parse(os.Args[2:])
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tiercel-bench:", err)
		os.Exit(1)
	}
	b := bench.NewBare(*size)
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		_ = b.Shutdown()
	}()
	if err := b.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, "tiercel-bench:", err)
		os.Exit(1)
	}
}
