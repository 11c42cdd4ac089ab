package bench

import (
	"context"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// serve starts handler on a loopback port for the test and returns its URL.
func serve(t *testing.T, handler fasthttp.RequestHandler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("cannot listen: %v", err)
	}
	srv := &fasthttp.Server{Handler: handler}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Shutdown()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

func load(t *testing.T, cfg Config) *Result {
	t.Helper()
	res, err := Load(context.Background(), cfg)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return res
}

func TestOpenLoopKeepsRate(t *testing.T) {
	b := NewBare(1024)
	url := serve(t, b.Handler())
	const rate = 1000
	res := load(t, Config{URL: url + "/", Rate: rate, Conns: 16, Duration: time.Second, Warmup: 200 * time.Millisecond})
	if res.Requests < rate*8/10 || res.Requests > rate*12/10 {
		t.Errorf("requests = %d, want %d ±20%%", res.Requests, rate)
	}
	if res.Missed != 0 || res.Errors != 0 {
		t.Errorf("missed %d errors %d, want 0 0", res.Missed, res.Errors)
	}
	if res.Mode != "open" || res.Latency.Count != res.Requests {
		t.Errorf("mode %q, %d latencies for %d requests", res.Mode, res.Latency.Count, res.Requests)
	}
	if res.Rate < rate*8/10 || res.Rate > rate*12/10 {
		t.Errorf("achieved rate %.0f, want %d ±20%%", res.Rate, rate)
	}
}

func TestClosedLoopCountsEveryRequest(t *testing.T) {
	var served atomic.Int64
	url := serve(t, func(ctx *fasthttp.RequestCtx) { served.Add(1) })
	res := load(t, Config{URL: url, Conns: 4, Duration: 200 * time.Millisecond})
	if res.Mode != "closed" || res.Requests == 0 || res.Requests != served.Load() || res.OK != res.Requests {
		t.Errorf("mode %q: requests %d ok %d, server saw %d", res.Mode, res.Requests, res.OK, served.Load())
	}
}

// A server that freezes for 200 ms at the start of the run: the requests
// due during the freeze wait behind the four busy connections, and an
// open-loop generator must charge that wait to the server. A closed-loop
// one would report only the four stuck requests (0.4% of the run), and the
// p99 would look healthy.
func TestOpenLoopShowsStall(t *testing.T) {
	const stall = 200 * time.Millisecond
	var mu sync.Mutex
	var stallUntil time.Time
	url := serve(t, func(ctx *fasthttp.RequestCtx) {
		mu.Lock()
		if stallUntil.IsZero() {
			stallUntil = time.Now().Add(stall)
		}
		wait := time.Until(stallUntil)
		mu.Unlock()
		time.Sleep(wait) // the stall being measured, not synchronisation
	})
	res := load(t, Config{URL: url, Rate: 1000, Conns: 4, Duration: time.Second})
	l := res.Latency
	if l.Max < stall.Microseconds() {
		t.Errorf("max %s, want ≥ the %v stall", fmtUS(l.Max), stall)
	}
	// ~200 requests come due during the stall, waiting 200 ms down to 0:
	// the slowest 1% of 1000 all waited for most of it.
	if l.P99 < (stall / 2).Microseconds() {
		t.Errorf("p99 %s, want ≥ %v: the stall is hidden (coordinated omission)", fmtUS(l.P99), stall/2)
	}
	if res.Schedule == nil || res.Schedule.Backlogged < 50 {
		t.Errorf("schedule %+v: want ≥50 requests sent late behind the stall", res.Schedule)
	}
	// The backlog drains long before the end; a ticket or two due in the
	// last instant while all four connections were busy (a descheduled
	// server on a loaded machine) may still go unsent.
	if res.Missed > 10 {
		t.Errorf("missed %d, want ≈0: the backlog drains long before the end", res.Missed)
	}
}

// Half the answers are 429s carrying a cache header: each is an error and
// none may count as a hit.
func TestStatusErrorsAreNotHits(t *testing.T) {
	var n, limited atomic.Int64
	url := serve(t, func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("X-Cache", "HIT-L1")
		if n.Add(1)%2 == 0 {
			limited.Add(1)
			ctx.SetStatusCode(fasthttp.StatusTooManyRequests)
		}
	})
	res := load(t, Config{URL: url, Conns: 2, Duration: 200 * time.Millisecond})
	if res.Status[429] != limited.Load() || res.Errors != limited.Load() {
		t.Errorf("429s: status %d errors %d, server sent %d", res.Status[429], res.Errors, limited.Load())
	}
	if res.OK+res.Errors != res.Requests || res.XCache["HIT-L1"] != res.OK {
		t.Errorf("ok %d errors %d requests %d, HIT-L1 %d: want hits = ok", res.OK, res.Errors, res.Requests, res.XCache["HIT-L1"])
	}
	if hr := res.HitRatio(); hr != 1 {
		t.Errorf("hit ratio %v, want 1 (of the 2xx answers)", hr)
	}
}

func TestXCacheCounts(t *testing.T) {
	values := []string{"HIT-L1", "HIT-L2", "MISS", ""}
	var mu sync.Mutex
	sent := map[string]int64{}
	var n atomic.Int64
	url := serve(t, func(ctx *fasthttp.RequestCtx) {
		v := values[n.Add(1)%int64(len(values))]
		if v != "" {
			ctx.Response.Header.Set("X-Cache", v)
		}
		mu.Lock()
		sent[v]++
		mu.Unlock()
	})
	res := load(t, Config{URL: url, Conns: 3, Duration: 200 * time.Millisecond})
	mu.Lock()
	defer mu.Unlock()
	for _, v := range values {
		if res.XCache[v] != sent[v] || sent[v] == 0 {
			t.Errorf("X-Cache %q counted %d, server sent %d", v, res.XCache[v], sent[v])
		}
	}
	want := float64(sent["HIT-L1"]+sent["HIT-L2"]) / float64(res.OK-sent[""])
	if res.HitRatio() != want {
		t.Errorf("hit ratio %v, want %v", res.HitRatio(), want)
	}
}

// Keys reach the server through {key}, and headers, method and body are
// sent as configured.
func TestRequestShape(t *testing.T) {
	var mu sync.Mutex
	paths := map[string]int{}
	var bad atomic.Int64
	url := serve(t, func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Method()) != "POST" || string(ctx.Request.Header.Peek("Authorization")) != "Bearer t" ||
			string(ctx.PostBody()) != "{}" {
			bad.Add(1)
		}
		mu.Lock()
		paths[string(ctx.Path())]++
		mu.Unlock()
	})
	cfg := Config{
		URL: url + "/k/{key}", Keys: 5, Dist: DistSeq, Method: "POST", Body: []byte("{}"),
		Headers: []Header{{"Authorization", "Bearer t"}}, Conns: 2, Duration: 100 * time.Millisecond,
	}
	res := load(t, cfg)
	if bad.Load() != 0 || res.Errors != 0 {
		t.Errorf("%d requests with a wrong method, header or body; %d errors", bad.Load(), res.Errors)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(paths) != 5 {
		t.Errorf("paths %v, want /k/0 … /k/4", paths)
	}
	for p := range paths {
		if !strings.HasPrefix(p, "/k/") {
			t.Errorf("unexpected path %q", p)
		}
	}
}

func TestTransportErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there any more: every dial is refused
	res := load(t, Config{URL: "http://" + addr + "/", Rate: 100, Conns: 1, Duration: 100 * time.Millisecond})
	if res.Requests == 0 || res.Transport["dial"] != res.Requests || res.OK != 0 {
		t.Errorf("requests %d ok %d transport %v: want every request a dial error", res.Requests, res.OK, res.Transport)
	}
}

func TestLoadRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{URL: "ftp://h/"},
		{URL: "http://h/{key}"},
		{URL: "http://h/", Rate: -1},
		{URL: "http://h/{key}", Keys: 3, Dist: "pareto"},
		{URL: "http://h/{key}", Keys: 3, Dist: DistZipf, ZipfS: 0.5},
	} {
		if _, err := Load(context.Background(), cfg); err == nil {
			t.Errorf("%+v: want an error", cfg)
		}
	}
}

func TestLoadStopsWhenCancelled(t *testing.T) {
	url := serve(t, NewBare(16).Handler())
	ctx, cancel := context.WithCancel(context.Background())
	cfg := Config{URL: url, Rate: 500, Conns: 2, Duration: time.Hour}
	var progress strings.Builder
	cfg.Progress = &lockedWriter{w: &progress}
	done := make(chan *Result)
	go func() {
		res, err := Load(ctx, cfg)
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	cancel()
	select {
	case res := <-done:
		if !res.Interrupted {
			t.Error("result not marked interrupted")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Load did not return after cancel")
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// A weighted mix sends each kind in proportion, each with its own method,
// path keys and body keys.
func TestRequestMix(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	var bad atomic.Int64
	url := serve(t, func(ctx *fasthttp.RequestCtx) {
		k := string(ctx.Method()) + " " + string(ctx.Path())
		switch {
		case string(ctx.Method()) == "GET" && strings.HasPrefix(k, "GET /p/") && len(ctx.PostBody()) == 0:
			k = "GET /p/"
		case string(ctx.Method()) == "POST" && k == "POST /f" &&
			strings.HasPrefix(string(ctx.PostBody()), `{"e":["u`) &&
			string(ctx.Request.Header.ContentType()) == "application/json":
		default:
			bad.Add(1)
		}
		mu.Lock()
		seen[k]++
		mu.Unlock()
	})
	res := load(t, Config{
		Requests: []Request{
			{URL: url + "/p/{key}", Keys: 100, Weight: 3},
			{Method: "POST", URL: url + "/f", Body: `{"e":["u{key}","u{key}"]}`, Keys: 10, KeyBase: 1},
		},
		Conns: 4, Duration: 300 * time.Millisecond,
	})
	mu.Lock()
	defer mu.Unlock()
	if bad.Load() != 0 || res.Errors != 0 {
		t.Errorf("%d malformed requests, %d errors; seen %v", bad.Load(), res.Errors, seen)
	}
	gets, posts := seen["GET /p/"], seen["POST /f"]
	if share := float64(gets) / float64(gets+posts); gets+posts < 200 || share < 0.65 || share > 0.85 {
		t.Errorf("%d GETs, %d POSTs: want about 3:1", gets, posts)
	}
}

func TestMixNeedsOneHost(t *testing.T) {
	_, err := Load(context.Background(), Config{Requests: []Request{{URL: "http://a:1/"}, {URL: "http://b:1/"}}})
	if err == nil || !strings.Contains(err.Error(), "every request of a run") {
		t.Errorf("err = %v, want one host per run", err)
	}
}

// Count ends a closed-loop run: with seq keys every key is sent exactly once.
func TestCountTouchesEveryKeyOnce(t *testing.T) {
	var mu sync.Mutex
	paths := map[string]int{}
	url := serve(t, func(ctx *fasthttp.RequestCtx) {
		mu.Lock()
		paths[string(ctx.Path())]++
		mu.Unlock()
	})
	res := load(t, Config{URL: url + "/k/{key}", Keys: 500, Dist: DistSeq, Count: 500, Conns: 8, Duration: time.Minute})
	mu.Lock()
	defer mu.Unlock()
	if res.Requests != 500 || len(paths) != 500 {
		t.Errorf("%d requests over %d paths, want 500 over 500", res.Requests, len(paths))
	}
	for p, n := range paths {
		if n != 1 {
			t.Errorf("%s requested %d times", p, n)
		}
	}
}
