package upstream

import (
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tiercel/tiercel/internal/testwait"
)

func TestRoundRobinSpreadsRequests(t *testing.T) {
	servers := []*namedServer{startNamed(t, "a"), startNamed(t, "b"), startNamed(t, "c")}
	p := newTestPool(t, Config{Targets: []string{servers[0].addr, "http://" + servers[1].addr, servers[2].addr}})

	for range 30 {
		if _, _, err := get(t, p, "/"); err != nil {
			t.Fatalf("Do: %v", err)
		}
	}
	for _, s := range servers {
		if got := s.hits.Load(); got != 10 {
			t.Errorf("server %s got %d requests, want 10 of 30", s.name, got)
		}
	}
	if st := p.Stats(); st.Requests != 30 || st.Retries != 0 || st.Timeouts != 0 || st.Unavailable != 0 {
		t.Errorf("Stats = %+v, want 30 requests and nothing else", st)
	}
}

func TestLeastLoadedPrefersIdleTarget(t *testing.T) {
	held := make(chan string, 1)
	release := make(chan struct{})
	handler := func(name string) fasthttp.RequestHandler {
		return func(ctx *fasthttp.RequestCtx) {
			if string(ctx.Path()) == "/hold" {
				held <- name
				<-release
			}
			ctx.SetBodyString(name)
		}
	}
	a := startServer(t, handler("a"))
	b := startServer(t, handler("b"))
	p := newTestPool(t, Config{Targets: []string{a, b}, Balance: "least_loaded"})
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release) // unblock the handler before servers shut down
		}
	})

	holdDone := make(chan error, 1)
	go func() {
		_, _, err := get(t, p, "/hold")
		holdDone <- err
	}()
	busy := <-held
	idle := map[string]string{"a": "b", "b": "a"}[busy]

	for range 10 {
		body, _, err := get(t, p, "/who")
		if err != nil {
			t.Fatalf("Do: %v", err)
		}
		if body != idle {
			t.Fatalf("request went to %q while %q holds a request, want idle %q", body, busy, idle)
		}
	}
	close(release)
	if err := <-holdDone; err != nil {
		t.Fatalf("held request: %v", err)
	}
}

func TestConnectionFailureRetry(t *testing.T) {
	f := func(method string, wantErr error, wantAttempts int) {
		t.Helper()
		good := startNamed(t, "good")
		p := newTestPool(t, Config{Targets: []string{refusedAddr(t), good.addr}})

		req := fasthttp.AcquireRequest()
		resp := fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.Header.SetMethod(method)
		req.SetRequestURI("/x")
		res, err := p.Do(req, resp, time.Now().Add(5*time.Second), isIdempotent([]byte(method)))

		if !errors.Is(err, wantErr) {
			t.Fatalf("%s: err = %v, want %v", method, err, wantErr)
		}
		if res.Attempts != wantAttempts {
			t.Errorf("%s: Attempts = %d, want %d", method, res.Attempts, wantAttempts)
		}
		if err != nil {
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("%s: err = %v, want the refusal wrapped", method, err)
			}
			if good.hits.Load() != 0 {
				t.Errorf("%s: not idempotent, yet sent to the second target", method)
			}
			return
		}
		if body := string(resp.Body()); body != "good" || res.Target != good.addr {
			t.Errorf("%s: got %q from %q, want the good target", method, body, res.Target)
		}
		if st := p.Stats(); st.Retries != 1 {
			t.Errorf("%s: Stats.Retries = %d, want 1", method, st.Retries)
		}
	}
	f(fasthttp.MethodGet, nil, 2)
	f(fasthttp.MethodPut, nil, 2)
	f(fasthttp.MethodPost, ErrUnavailable, 1)
	f(fasthttp.MethodPatch, ErrUnavailable, 1)
}

func TestAllTargetsDown(t *testing.T) {
	p := newTestPool(t, Config{Targets: []string{refusedAddr(t), refusedAddr(t)}, Retries: 3})
	_, res, err := get(t, p, "/")
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("err = %v, want ErrUnavailable wrapping ECONNREFUSED", err)
	}
	// Two targets, three retries: each target twice, no more.
	if res.Attempts != 4 {
		t.Errorf("Attempts = %d, want 4", res.Attempts)
	}
	if st := p.Stats(); st.Unavailable != 1 || st.Retries != 3 {
		t.Errorf("Stats = %+v, want 1 unavailable and 3 retries", st)
	}
}

func TestHungUpstreamTimesOut(t *testing.T) {
	release := make(chan struct{})
	hung := startServer(t, func(*fasthttp.RequestCtx) { <-release })
	t.Cleanup(func() { close(release) }) // runs before the server's shutdown
	p := newTestPool(t, Config{Targets: []string{hung, refusedAddr(t)}})

	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("/slow")
	start := time.Now()
	res, err := p.Do(req, resp, start.Add(200*time.Millisecond), true)

	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("returned after %s, want about the 200ms deadline", elapsed)
	}
	if res.Attempts != 1 {
		t.Errorf("Attempts = %d, want 1: a timeout leaves no time to retry", res.Attempts)
	}
	if st := p.Stats(); st.Timeouts != 1 {
		t.Errorf("Stats.Timeouts = %d, want 1", st.Timeouts)
	}
	if s := targetStatus(p, hung); s.ConsecutiveFailures != 0 || !s.Healthy {
		t.Errorf("status of hung target = %+v: a slow answer is not a connection failure", s)
	}
}

func TestPastDeadlineFailsAtOnce(t *testing.T) {
	good := startNamed(t, "good")
	p := newTestPool(t, Config{Targets: []string{good.addr}})
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("/")
	if _, err := p.Do(req, resp, time.Time{}, true); !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if good.hits.Load() != 0 {
		t.Errorf("a request past its deadline reached the upstream")
	}
}

func TestSingleTargetRetriesItself(t *testing.T) {
	// With one target, "another target" does not exist: the retry opens a
	// new connection to the same one, which rides out a keep-alive
	// connection closed under the request.
	flaky := startFlaky(t, true)
	p := newTestPool(t, Config{Targets: []string{flaky.addr}, Retries: 2})
	_, res, err := get(t, p, "/")
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, fasthttp.ErrConnectionClosed) {
		t.Fatalf("err = %v, want ErrUnavailable wrapping ErrConnectionClosed", err)
	}
	if res.Attempts != 3 {
		t.Errorf("Attempts = %d, want 3", res.Attempts)
	}
}

func TestHTTPSTarget(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshake error is expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	addr := "https://" + strings.TrimPrefix(srv.URL, "https://")
	p := newTestPool(t, Config{Targets: []string{addr}})

	// The test server's certificate is self-signed: failing to verify it
	// proves the pool spoke TLS to an https target.
	_, _, err := get(t, p, "/")
	var certErr *tls.CertificateVerificationError
	if !errors.Is(err, ErrUnavailable) || !errors.As(err, &certErr) {
		t.Fatalf("err = %v, want ErrUnavailable wrapping a certificate error", err)
	}
}

func TestTLSHandshakeBoundedByDeadline(t *testing.T) {
	// A target that accepts TCP but never answers the ClientHello.
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("cannot listen: %v", err)
	}
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		for c := range accepted {
			_ = c.Close()
		}
	})
	p := newTestPool(t, Config{Targets: []string{"https://" + ln.Addr().String()}})

	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("/")
	start := time.Now()
	_, err = p.Do(req, resp, start.Add(300*time.Millisecond), true)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("returned after %s, want about the 300ms deadline", elapsed)
	}
}

func TestCloseLeavesNoGoroutine(t *testing.T) {
	flaky := startFlaky(t, false)
	p, err := New(Config{
		Targets: []string{flaky.addr, refusedAddr(t)},
		// Long enough that the connection of the request just before the
		// check below is still open (on a loaded machine 50ms were not: the
		// cleaner had exited already), short enough for the wait after Close.
		IdleConnTimeout: time.Second,
		HealthCheck:     HealthCheck{Path: "/health", Interval: 20 * time.Millisecond, Timeout: 20 * time.Millisecond},
	}, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for range 5 {
		if _, _, err := get(t, p, "/"); err != nil {
			t.Fatalf("Do: %v", err)
		}
	}
	testwait.For(t, 10*time.Second, "a probe reached the server", func() bool { return flaky.hits.Load() > 5 })
	if _, _, err := get(t, p, "/"); err != nil {
		t.Fatalf("Do: %v", err)
	}
	// Both kinds must be visible now, or the check below passes vacuously.
	if probes, cleaners := poolGoroutines(p); len(probes) != 2 || len(cleaners) == 0 {
		t.Fatalf("before Close: %d probe loops and %d cleaners, want 2 and at least 1", len(probes), len(cleaners))
	}

	p.Close()
	p.Close() // idempotent
	if _, _, err := get(t, p, "/"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Do after Close: err = %v, want ErrUnavailable", err)
	}
	// Close waits for the probe loops, which may still be unwinding when it
	// returns; fasthttp's cleaner exits when it next wakes, within
	// IdleConnTimeout.
	var left []string
	if !testwait.Until(10*time.Second, func() bool {
		probes, cleaners := poolGoroutines(p)
		left = append(probes, cleaners...)
		return len(left) == 0
	}) {
		t.Fatalf("%d goroutines left after Close, first:\n%s", len(left), left[0])
	}
}

func TestResponseOverLimitFails(t *testing.T) {
	big := startServer(t, func(ctx *fasthttp.RequestCtx) { ctx.SetBody(make([]byte, 4096)) })
	p := newTestPool(t, Config{Targets: []string{big}, MaxResponseBytes: 1024, Retries: -1})
	if _, _, err := get(t, p, "/"); !errors.Is(err, ErrUnavailable) || !errors.Is(err, fasthttp.ErrBodyTooLarge) {
		t.Fatalf("err = %v, want ErrUnavailable wrapping ErrBodyTooLarge", err)
	}
	small := startServer(t, func(ctx *fasthttp.RequestCtx) { ctx.SetBody(make([]byte, 1024)) })
	p = newTestPool(t, Config{Targets: []string{small}, MaxResponseBytes: 1024})
	if body, _, err := get(t, p, "/"); err != nil || len(body) != 1024 {
		t.Fatalf("at the limit: %d bytes, %v", len(body), err)
	}
}
