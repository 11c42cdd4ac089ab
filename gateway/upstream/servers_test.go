package upstream

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// Test fixtures: real upstream servers on loopback, and polling helpers.

type quietLogger struct{}

func (quietLogger) Printf(string, ...any) {}

// startServer serves h on a loopback port until the test ends and returns
// "127.0.0.1:port".
func startServer(t testing.TB, h fasthttp.RequestHandler) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("cannot listen: %v", err)
	}
	s := &fasthttp.Server{Handler: h, Logger: quietLogger{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = s.Shutdown()
		// Shutdown returns at once if Serve has not yet registered ln.
		_ = ln.Close()
		<-done
	})
	return ln.Addr().String()
}

// refusedAddr returns a loopback address where nothing listens.
func refusedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("cannot listen: %v", err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// namedServer answers every request with its name and counts them.
type namedServer struct {
	name string
	addr string
	hits atomic.Int64
}

func startNamed(t testing.TB, name string) *namedServer {
	s := &namedServer{name: name}
	s.addr = startServer(t, func(ctx *fasthttp.RequestCtx) {
		s.hits.Add(1)
		ctx.SetBodyString(s.name)
	})
	return s
}

// flakyServer drops connections without a response byte while broken, the
// way a crashing process does, and answers "ok" otherwise.
type flakyServer struct {
	addr   string
	broken atomic.Bool
	hits   atomic.Int64 // requests answered while healthy
}

func startFlaky(t testing.TB, broken bool) *flakyServer {
	s := &flakyServer{}
	s.broken.Store(broken)
	s.addr = startServer(t, func(ctx *fasthttp.RequestCtx) {
		if s.broken.Load() {
			_ = ctx.Conn().Close()
			return
		}
		s.hits.Add(1)
		ctx.SetBodyString("ok")
	})
	return s
}

// newTestPool creates a pool closed at the end of the test. Its idle
// connections expire quickly so that fasthttp's cleaner goroutines exit
// soon after Close.
func newTestPool(t testing.TB, cfg Config) *Pool {
	t.Helper()
	if cfg.IdleConnTimeout == 0 {
		cfg.IdleConnTimeout = 100 * time.Millisecond
	}
	p, err := New(cfg, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

// get sends GET path to the pool and returns the response body.
func get(t testing.TB, p *Pool, path string) (string, Result, error) {
	t.Helper()
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(path)
	res, err := p.Do(req, resp, time.Now().Add(5*time.Second), true)
	return string(resp.Body()), res, err
}

// poolGoroutines returns the stacks of the goroutines that p started,
// directly or through its HostClients' idle-connection cleaners. Goroutines
// are told apart by the receiver pointer printed in their stack, so that
// other tests' pools, winding down, do not count.
func poolGoroutines(p *Pool) (probes, cleaners []string) {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, fmt.Sprintf("upstream.(*Pool).probeLoop(%p", p)) {
			probes = append(probes, g)
		}
		for _, t := range p.targets {
			if strings.Contains(g, fmt.Sprintf("fasthttp.(*HostClient).connsCleaner(%p", t.client)) {
				cleaners = append(cleaners, g)
			}
		}
	}
	return probes, cleaners
}

func targetStatus(p *Pool, addr string) TargetStatus {
	for _, s := range p.Status() {
		if s.Addr == addr {
			return s
		}
	}
	return TargetStatus{}
}

// startRawServer answers every request on a connection with the bytes of
// answer, whatever fasthttp's server would have made of them.
func startRawServer(t testing.TB, answer string) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("cannot listen: %v", err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(r)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					if _, err := io.WriteString(c, answer); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}
