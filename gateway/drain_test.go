package gateway

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tiercel/tiercel/internal/testwait"
)

// keepAlive is one client connection sending requests one after another.
type keepAlive struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialKeepAlive(t *testing.T, addr string) *keepAlive {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("cannot connect: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return &keepAlive{t: t, c: c, br: bufio.NewReader(c)}
}

func (k *keepAlive) send(path string) {
	k.t.Helper()
	if _, err := k.c.Write([]byte("GET " + path + " HTTP/1.1\r\nHost: gw\r\n\r\n")); err != nil {
		k.t.Fatalf("cannot send %s: %v", path, err)
	}
}

func (k *keepAlive) read() *http.Response {
	k.t.Helper()
	_ = k.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(k.br, nil)
	if err != nil {
		k.t.Fatalf("cannot read a response: %v", err)
	}
	resp.Body.Close()
	return resp
}

func (k *keepAlive) get(path string) *http.Response {
	k.t.Helper()
	k.send(path)
	return k.read()
}

// closedByServer reports whether the server has closed the connection.
func (k *keepAlive) closedByServer() bool {
	_ = k.c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	_, err := k.br.Peek(1)
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// TestShutdownOrder checks what a load balancer relies on, in order: /readyz
// says 503 at once; new connections are still accepted and served for
// server.drain_delay, keep-alive connections still kept alive; after it new
// connections are refused, idle keep-alive connections are closed, a request
// in flight finishes and its response says Connection: close.
func TestShutdownOrder(t *testing.T) {
	// Long enough for the checks inside it on a busy machine under -race.
	const delay = 3 * time.Second
	h := newHarness(t, func(c *Config) {
		c.Server.DrainDelay = delay
		c.Routes[2].Timeout = 10 * time.Second
	})
	slow := make(chan struct{})
	h.origin.serve(func(ctx *fasthttp.RequestCtx) {
		if strings.HasSuffix(string(ctx.Path()), "/slow") {
			<-slow
		}
		ctx.SetBodyString(`{}`)
	})
	defer close(slow)
	busy, idle := dialKeepAlive(t, h.srv.Addr()), dialKeepAlive(t, h.srv.Addr())
	for _, k := range []*keepAlive{busy, idle} {
		if r := k.get("/open/before"); r.StatusCode != 200 || r.Close {
			t.Fatalf("before shutdown: status %d, close %v", r.StatusCode, r.Close)
		}
	}

	started := time.Now()
	done := make(chan error, 1)
	go func() { done <- h.srv.Shutdown(context.Background()) }()
	testwait.For(t, time.Second, "/readyz 503", func() bool {
		resp, err := http.Get(h.admin + "/readyz")
		if err != nil {
			t.Fatalf("admin listener: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode == 503
	})
	fresh := dialKeepAlive(t, h.srv.Addr())
	for name, k := range map[string]*keepAlive{"a new connection": fresh, "a keep-alive connection": busy} {
		if r := k.get("/open/during"); r.StatusCode != 200 || r.Close {
			t.Fatalf("%s during the drain delay: status %d, close %v", name, r.StatusCode, r.Close)
		}
	}
	if time.Since(started) >= delay {
		t.Fatalf("the checks inside the drain delay took %v of its %v: the machine is too slow to tell", time.Since(started), delay)
	}
	busy.send("/open/slow")
	testwait.For(t, 5*time.Second, "the slow request at the origin", func() bool { return h.origin.hits.Load() == 5 })

	testwait.For(t, 10*time.Second, "new connections refused", func() bool {
		c, err := net.DialTimeout("tcp", h.srv.Addr(), 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	// The listener closes once the delay is over, never before (the clock
	// reads are a few microseconds apart from the events they time).
	if waited := time.Since(started); waited < delay {
		t.Fatalf("new connections refused after %v, before the %v drain delay", waited, delay)
	}
	testwait.For(t, 5*time.Second, "the idle keep-alive connection closed", idle.closedByServer)
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned (%v) with a request in flight", err)
	default:
	}

	slow <- struct{}{}
	if r := busy.read(); r.StatusCode != 200 || !r.Close {
		t.Fatalf("the request in flight: status %d, close %v; want 200 and Connection: close", r.StatusCode, r.Close)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return once the last request was answered")
	}
}

func TestDrainConfig(t *testing.T) {
	f := func(drain, shutdown time.Duration, want string) {
		t.Helper()
		c := testConfig("127.0.0.1:1")
		c.Server.DrainDelay, c.Server.ShutdownTimeout = drain, shutdown
		c.SetDefaults()
		err := c.Validate()
		switch {
		case want == "" && err != nil:
			t.Errorf("drain_delay %v, shutdown_timeout %v: %v", drain, shutdown, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("drain_delay %v, shutdown_timeout %v: err = %v, want it to mention %q", drain, shutdown, err, want)
		}
	}
	f(0, 0, "")
	f(-1, 0, "")
	f(5*time.Minute, time.Second, "")
	f(5*time.Minute+1, 0, "server.drain_delay: 5m0.000000001s is longer than 5m0s")
	f(0, -time.Second, "server.shutdown_timeout: must be > 0")

	var c Config
	c.SetDefaults()
	if c.Server.DrainDelay != 5*time.Second {
		t.Errorf("default drain_delay %v, want 5s", c.Server.DrainDelay)
	}
}

// TestShutdownRightAfterStart: a Shutdown that comes before the public
// listener's goroutine has begun serving still ends (fasthttp closes only
// the listeners Serve registered; seen hanging in wg.Wait).
func TestShutdownRightAfterStart(t *testing.T) {
	o := startOrigin(t)
	for range 20 {
		cfg := testConfig(o.ln.Addr().String())
		cfg.SetDefaults()
		srv, err := New(cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- srv.Shutdown(context.Background()) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Shutdown right after Start did not return")
		}
	}
}
