package upstream

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tiercel/tiercel/internal/breaker"
	"github.com/tiercel/tiercel/internal/testwait"
)

// statusServer answers with the status it holds and counts the requests
// that reached it.
type statusServer struct {
	addr   string
	status atomic.Int64
	hits   atomic.Int64
}

func startStatus(t testing.TB, status int) *statusServer {
	s := &statusServer{}
	s.status.Store(int64(status))
	s.addr = startServer(t, func(ctx *fasthttp.RequestCtx) {
		s.hits.Add(1)
		ctx.SetStatusCode(int(s.status.Load()))
		ctx.SetBodyString("from " + s.addr)
	})
	return s
}

func TestBreakerOpensOn5xxAndSkipsTarget(t *testing.T) {
	bad := startStatus(t, fasthttp.StatusInternalServerError)
	good := startNamed(t, "good")
	p := newTestPool(t, Config{Targets: []string{bad.addr, good.addr},
		Breaker: breaker.Config{Failures: 3, Cooldown: time.Hour}})
	for range 20 {
		if _, _, err := get(t, p, "/"); err != nil {
			t.Fatalf("get: %v", err) // a 5xx is a response, not an error
		}
	}
	// Round robin sends every other request to bad until its breaker opens
	// after three 5xx in a row; after that it gets nothing.
	if n := bad.hits.Load(); n != 3 {
		t.Errorf("failing target got %d requests, want 3", n)
	}
	if s := targetStatus(p, bad.addr); s.Breaker != "open" {
		t.Errorf("failing target's breaker = %q, want open", s.Breaker)
	}
	if s := targetStatus(p, good.addr); s.Breaker != "closed" {
		t.Errorf("good target's breaker = %q, want closed", s.Breaker)
	}
}

func TestAllBreakersOpenFailsWithoutSending(t *testing.T) {
	bad := startStatus(t, fasthttp.StatusServiceUnavailable)
	p := newTestPool(t, Config{Targets: []string{bad.addr},
		Breaker: breaker.Config{Failures: 2, Cooldown: time.Hour}})
	for range 2 {
		if _, _, err := get(t, p, "/"); err != nil {
			t.Fatalf("get: %v", err)
		}
	}
	start := time.Now()
	_, res, err := get(t, p, "/")
	if !errors.Is(err, ErrOpen) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrOpen wrapping ErrUnavailable", err)
	}
	if n := bad.hits.Load(); n != 2 {
		t.Errorf("target got %d requests, want 2: an open breaker sends nothing", n)
	}
	if res.Attempts == 0 || time.Since(start) > time.Second {
		t.Errorf("res = %+v after %s", res, time.Since(start))
	}
	if st := p.Stats(); st.Rejected == 0 {
		t.Errorf("Stats.Rejected = 0, want the refused attempts counted")
	}
}

func TestBreakerHalfOpenProbeCloses(t *testing.T) {
	s := startStatus(t, fasthttp.StatusBadGateway)
	p := newTestPool(t, Config{Targets: []string{s.addr},
		Breaker: breaker.Config{Failures: 1, Cooldown: 50 * time.Millisecond}})
	if _, _, err := get(t, p, "/"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := get(t, p, "/"); !errors.Is(err, ErrOpen) {
		t.Fatalf("err = %v, want ErrOpen while open", err)
	}
	s.status.Store(fasthttp.StatusOK)
	// After the cooldown one probe goes through; its success closes it.
	testwait.For(t, 10*time.Second, "the breaker lets a probe through", func() bool {
		_, _, err := get(t, p, "/")
		return err == nil
	})
	if st := targetStatus(p, s.addr); st.Breaker != "closed" {
		t.Errorf("breaker = %q after a good probe, want closed", st.Breaker)
	}
}

func TestBreakerTripsOnTimeouts(t *testing.T) {
	release := make(chan struct{})
	hung := startServer(t, func(*fasthttp.RequestCtx) { <-release })
	t.Cleanup(func() { close(release) })
	p := newTestPool(t, Config{Targets: []string{hung},
		Breaker: breaker.Config{Failures: 2, Cooldown: time.Hour}})
	do := func() error {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI("/")
		_, err := p.Do(req, resp, time.Now().Add(30*time.Millisecond), true)
		return err
	}
	for range 2 {
		if err := do(); !errors.Is(err, ErrTimeout) {
			t.Fatalf("err = %v, want ErrTimeout", err)
		}
	}
	start := time.Now()
	if err := do(); !errors.Is(err, ErrOpen) {
		t.Fatalf("err = %v, want ErrOpen after two timeouts", err)
	}
	if d := time.Since(start); d > 25*time.Millisecond {
		t.Logf("rejected after %s (machine busy?)", d)
	}
}

func TestBreakerDisabled(t *testing.T) {
	bad := startStatus(t, fasthttp.StatusInternalServerError)
	p := newTestPool(t, Config{Targets: []string{bad.addr}, Breaker: breaker.Config{Failures: -1}})
	for range 10 {
		if _, _, err := get(t, p, "/"); err != nil {
			t.Fatal(err)
		}
	}
	if n := bad.hits.Load(); n != 10 {
		t.Errorf("hits = %d, want 10 with the breaker disabled", n)
	}
	if s := targetStatus(p, bad.addr); s.Breaker != "disabled" {
		t.Errorf("breaker = %q, want disabled", s.Breaker)
	}
}

func TestMaxInFlightRefusesAtOnce(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 4)
	slow := startServer(t, func(ctx *fasthttp.RequestCtx) {
		entered <- struct{}{}
		<-release
		ctx.SetBodyString("ok")
	})
	p := newTestPool(t, Config{Targets: []string{slow}, MaxInFlight: 2})
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			_, _, err := get(t, p, "/")
			errs <- err
		}()
	}
	<-entered
	<-entered
	start := time.Now()
	_, res, err := get(t, p, "/")
	if !errors.Is(err, ErrOverloaded) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("third request: err = %v, want ErrOverloaded", err)
	}
	if res.Attempts != 0 || time.Since(start) > time.Second {
		t.Errorf("third request: %+v after %s, want refused without an attempt", res, time.Since(start))
	}
	close(release)
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("in-flight request: %v", err)
		}
	}
	if st := p.Stats(); st.Overloaded != 1 {
		t.Errorf("Stats.Overloaded = %d, want 1", st.Overloaded)
	}
	if _, _, err := get(t, p, "/"); err != nil {
		t.Errorf("after the others finished: %v", err)
	}
}

func TestHedgedRequestWinsOverSlowTarget(t *testing.T) {
	release := make(chan struct{})
	var slowHits atomic.Int64
	slow := startServer(t, func(ctx *fasthttp.RequestCtx) {
		slowHits.Add(1)
		<-release
		ctx.SetBodyString("slow")
	})
	t.Cleanup(func() { close(release) })
	fast := startNamed(t, "fast")
	p := newTestPool(t, Config{Targets: []string{slow, fast.addr}, HedgeAfter: 20 * time.Millisecond})

	// Round robin starts with the slow target: the hedge answers.
	body, res, err := get(t, p, "/")
	if err != nil || body != "fast" {
		t.Fatalf("body %q err %v, want the hedge's answer", body, err)
	}
	if res.Target != fast.addr || slowHits.Load() != 1 {
		t.Errorf("res = %+v, slow hits %d", res, slowHits.Load())
	}
	if st := p.Stats(); st.Hedges != 1 || st.HedgeWins != 1 {
		t.Errorf("Stats = %+v, want one hedge that won", st)
	}
}

func TestNoHedgeWhenAnsweredInTime(t *testing.T) {
	a, b := startNamed(t, "a"), startNamed(t, "b")
	p := newTestPool(t, Config{Targets: []string{a.addr, b.addr}, HedgeAfter: time.Second})
	for range 10 {
		if _, _, err := get(t, p, "/"); err != nil {
			t.Fatal(err)
		}
	}
	if st := p.Stats(); st.Hedges != 0 || a.hits.Load()+b.hits.Load() != 10 {
		t.Errorf("Stats = %+v, hits %d+%d: want no hedges and one request each", st, a.hits.Load(), b.hits.Load())
	}
}

func TestHedgeRetriesAFastFailureAtOnce(t *testing.T) {
	good := startNamed(t, "good")
	p := newTestPool(t, Config{Targets: []string{refusedAddr(t), good.addr}, HedgeAfter: time.Hour})
	body, res, err := get(t, p, "/")
	if err != nil || body != "good" {
		t.Fatalf("body %q err %v", body, err)
	}
	if res.Attempts != 2 {
		t.Errorf("Attempts = %d, want 2 (refused, then the other target)", res.Attempts)
	}
}

func TestNonIdempotentRequestsAreNotHedged(t *testing.T) {
	var hits atomic.Int64
	h := func(ctx *fasthttp.RequestCtx) {
		hits.Add(1)
		time.Sleep(40 * time.Millisecond) // a slow write: longer than hedge_after
		ctx.SetBodyString("done")
	}
	p := newTestPool(t, Config{Targets: []string{startServer(t, h), startServer(t, h)}, HedgeAfter: time.Millisecond})
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.SetRequestURI("/orders")
	if _, err := p.Do(req, resp, time.Now().Add(5*time.Second), false); err != nil {
		t.Fatal(err)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("a POST reached %d targets, want 1", n)
	}
}
