package upstream

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

// The benchmarks compare the pool's cost with a bare fasthttp.HostClient
// against the same upstream: over an in-memory listener, which leaves only
// CPU work, and over loopback TCP, which is what production looks like.

var benchBody = bytes.Repeat([]byte("x"), 1024)

func benchHandler(ctx *fasthttp.RequestCtx) { ctx.SetBody(benchBody) }

type benchTransport struct {
	name string
	// start serves benchHandler and returns the address and, for the
	// in-memory listener, the dial function that reaches it.
	start func(b *testing.B) (string, fasthttp.DialFuncWithTimeout)
}

var benchTransports = []benchTransport{
	{"inmemory", func(b *testing.B) (string, fasthttp.DialFuncWithTimeout) {
		ln := fasthttputil.NewInmemoryListener()
		s := &fasthttp.Server{Handler: benchHandler}
		done := make(chan struct{})
		go func() { defer close(done); _ = s.Serve(ln) }()
		b.Cleanup(func() { _ = ln.Close(); <-done })
		return "upstream.test:80", func(string, time.Duration) (net.Conn, error) { return ln.Dial() }
	}},
	{"loopback", func(b *testing.B) (string, fasthttp.DialFuncWithTimeout) {
		return startServer(b, benchHandler), nil
	}},
}

// newBenchPool creates a pool whose only target is served by tr.
func newBenchPool(b *testing.B, tr benchTransport) *Pool {
	addr, dial := tr.start(b)
	p := newTestPool(b, Config{Targets: []string{addr}, IdleConnTimeout: time.Minute})
	if dial != nil {
		p.targets[0].client.DialTimeout = dial // before first use: no race
	}
	return p
}

// newBenchCtx returns a RequestCtx like the gateway's handler receives.
func newBenchCtx() *fasthttp.RequestCtx {
	var req fasthttp.Request
	req.SetRequestURI("http://shop.example/items/42?color=red")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Connection", "keep-alive")
	req.Header.Set("X-Forwarded-For", "10.0.0.1")
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 40000}, nil)
	return &ctx
}

func BenchmarkProxy(b *testing.B) {
	for _, tr := range benchTransports {
		b.Run(tr.name, func(b *testing.B) {
			p := newBenchPool(b, tr)
			ctx := newBenchCtx()
			requestID := []byte("0123456789abcdef")
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Proxy(ctx, ctx.RequestURI(), time.Now().Add(time.Second), requestID); err != nil {
					b.Fatal(err)
				}
			}
			if len(ctx.Response.Body()) != len(benchBody) {
				b.Fatalf("body length %d, want %d", len(ctx.Response.Body()), len(benchBody))
			}
		})
	}
}

// BenchmarkDo is Proxy without the request and response copies.
func BenchmarkDo(b *testing.B) {
	for _, tr := range benchTransports {
		b.Run(tr.name, func(b *testing.B) {
			p := newBenchPool(b, tr)
			req := fasthttp.AcquireRequest()
			resp := fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI("/items/42?color=red")
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Do(req, resp, time.Now().Add(time.Second), true); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHostClient is the baseline: fasthttp alone, no pool.
func BenchmarkHostClient(b *testing.B) {
	for _, tr := range benchTransports {
		b.Run(tr.name, func(b *testing.B) {
			addr, dial := tr.start(b)
			c := &fasthttp.HostClient{Addr: addr, DialTimeout: dial}
			b.Cleanup(c.CloseIdleConnections)
			req := fasthttp.AcquireRequest()
			resp := fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI("http://" + addr + "/items/42?color=red")
			b.ReportAllocs()
			for b.Loop() {
				if err := c.DoDeadline(req, resp, time.Now().Add(time.Second)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
