package gateway

import (
	"math/rand/v2"
	"net"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tiercel/tiercel/bench"
	"github.com/tiercel/tiercel/gateway/auth"
	"github.com/tiercel/tiercel/gateway/reqtarget"
	"github.com/tiercel/tiercel/internal/testredis"
)

// BenchmarkAdmit is the cost every request pays before cache or upstream:
// routing, the cached-token check and the rate-limit check.
func BenchmarkAdmit(b *testing.B) {
	s := newCheckServer(b)
	ctx := newCheckCtx("/api/products/42", token(b, nil))
	st := statePool.Get().(*reqState)
	b.ReportAllocs()
	for b.Loop() {
		st.route, st.limited, st.timing = -1, false, st.timing[:0]
		st.started, st.lap = time.Now(), 0 // as handle does
		if _, _, ok := s.current().admit(ctx, st); !ok {
			b.Fatalf("not admitted: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
}

// benchGateway starts the bare baseline on loopback as the origin and a
// gateway (no listeners) configured by testConfig plus mutate.
func benchGateway(b *testing.B, mutate func(*Config)) *Server {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	bare := bench.NewBare(1024)
	go func() { _ = bare.Serve(ln) }()
	b.Cleanup(func() { _ = bare.Shutdown() })
	cfg := testConfig(ln.Addr().String())
	if mutate != nil {
		mutate(&cfg)
	}
	cfg.SetDefaults()
	s, err := New(cfg, discardLogger())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.closeComponents)
	return s
}

// BenchmarkHandleProxy is the whole handler on a proxied request to the
// bare baseline on loopback; compare with BenchmarkBareHandler, the
// baseline's own handler cost.
func BenchmarkHandleProxy(b *testing.B) {
	s := benchGateway(b, nil)
	ctx := newCheckCtx("/api/products/42", token(b, nil))
	b.ReportAllocs()
	for b.Loop() {
		ctx.Response.Reset()
		s.handle(ctx)
		if ctx.Response.StatusCode() != 200 {
			b.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
}

func BenchmarkBareHandler(b *testing.B) {
	h := bench.NewBare(1024).Handler()
	ctx := newCheckCtx("/api/products/42", "x")
	b.ReportAllocs()
	for b.Loop() {
		ctx.Response.Reset()
		h(ctx)
	}
}

// BenchmarkHandleL1Hit is the whole handler answering from L1 on a route
// with a cached JWT and a rate limit: the path the ≥0.80-of-bare goal is about.
func BenchmarkHandleL1Hit(b *testing.B) {
	s := benchGateway(b, func(cfg *Config) {
		cachedRoutes("")(cfg)
		cfg.Routes[len(cfg.Routes)-1].RateLimit = "big"
	})
	ctx := newCheckCtx("/c/me", token(b, nil))
	loopL1Hit(b, s, ctx)
}

// loopL1Hit serves ctx until L1 answers it, then measures serving it.
func loopL1Hit(b *testing.B, s *Server, ctx *fasthttp.RequestCtx) {
	for string(ctx.Response.Header.Peek("X-Cache")) != "HIT-L1" {
		ctx.Response.Reset()
		s.handle(ctx) // first a MISS, then (once ristretto has applied the Set) hits
	}
	b.ReportAllocs()
	for b.Loop() {
		ctx.Response.Reset()
		s.handle(ctx)
	}
}

// BenchmarkZipfHitRatio drives two gateways sharing one redis-server with
// Zipf-distributed product ids (s=1.1 over 100k ids, 1 KiB bodies) and the
// smallest L1 (1 MiB: about a thousand entries), and reports the share of
// requests answered by each tier. It measures ratios, not speed.
func BenchmarkZipfHitRatio(b *testing.B) {
	rs := testredis.Start(b)
	var servers [2]*Server
	for i := range servers {
		servers[i] = benchGateway(b, func(cfg *Config) {
			cachedRoutes(rs.URL())(cfg)
			cfg.Cache.L1MaxBytes = 1 << 20
		})
	}
	zipf := rand.NewZipf(rand.New(rand.NewPCG(1, 2)), 1.1, 1, 100_000-1)
	var counts [numCacheLabels]int
	ctx := newCheckCtx("/", "x")
	var path []byte
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		path = strconv.AppendUint(append(path[:0], "/c/products/"...), zipf.Uint64(), 10)
		ctx.Request.SetRequestURIBytes(path)
		ctx.Response.Reset()
		servers[i%2].handle(ctx)
		for l := range numCacheLabels {
			if string(ctx.Response.Header.Peek("X-Cache")) == cacheLabel(l).String() {
				counts[l]++
			}
		}
	}
	total := float64(b.N)
	b.ReportMetric(100*float64(counts[cacheHitL1])/total, "%hit-l1")
	b.ReportMetric(100*float64(counts[cacheHitL2])/total, "%hit-l2")
	b.ReportMetric(100*float64(counts[cacheMiss])/total, "%miss")
}

// BenchmarkHandleL2Hit is the whole handler over 20k keys already in Redis
// with the smallest L1: mostly L2 hits, each copied into L1.
func BenchmarkHandleL2Hit(b *testing.B) {
	rs := testredis.Start(b)
	s := benchGateway(b, func(cfg *Config) {
		cachedRoutes(rs.URL())(cfg)
		cfg.Cache.L1MaxBytes = 1 << 20
	})
	const keys = 20000
	ctx := newCheckCtx("/", "x")
	var path []byte
	get := func(id int) {
		path = strconv.AppendInt(append(path[:0], "/c/products/"...), int64(id), 10)
		ctx.Request.SetRequestURIBytes(path)
		ctx.Response.Reset()
		s.handle(ctx)
	}
	for id := range keys {
		get(id)
	}
	for st := s.current().cache.Stats(); st.L2Writes+st.L2WriteDrops < keys; st = s.current().cache.Stats() {
		runtime.Gosched() // L2 writes are asynchronous (and dropped when their queue is full)
	}
	hits := s.current().cache.Stats().L2Hits
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		get((i * 7919) % keys)
	}
	b.ReportMetric(100*float64(s.current().cache.Stats().L2Hits-hits)/float64(b.N), "%hit-l2")
}

// BenchmarkHandleL2HitParallel is BenchmarkHandleL2Hit with 64 concurrent
// requests, as under wrk -c64: the L2 reads of concurrent requests share
// MGETs, so ns/op is the handler's CPU per L2 hit (plus Redis' when both
// are pinned to one CPU: taskset -c 0 with -cpu 1).
func BenchmarkHandleL2HitParallel(b *testing.B) {
	rs := testredis.Start(b)
	s := benchGateway(b, func(cfg *Config) {
		cachedRoutes(rs.URL())(cfg)
		cfg.Cache.L1MaxBytes = 1 << 20
	})
	const keys = 20000
	get := func(ctx *fasthttp.RequestCtx, path []byte, id int) []byte {
		path = strconv.AppendInt(append(path[:0], "/c/products/"...), int64(id), 10)
		ctx.Request.SetRequestURIBytes(path)
		ctx.Response.Reset()
		s.handle(ctx)
		return path
	}
	ctx := newCheckCtx("/", "x")
	var path []byte
	for id := range keys {
		path = get(ctx, path, id)
	}
	for st := s.current().cache.Stats(); st.L2Writes+st.L2WriteDrops < keys; st = s.current().cache.Stats() {
		runtime.Gosched()
	}
	before := s.current().cache.Stats()
	var seq atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(64 / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := newCheckCtx("/", "x")
		var path []byte
		for pb.Next() {
			path = get(ctx, path, int(seq.Add(7919)%keys))
		}
	})
	after := s.current().cache.Stats()
	b.ReportMetric(100*float64(after.L2Hits-before.L2Hits)/float64(b.N), "%hit-l2")
}

// BenchmarkCacheKey builds a key with two keyed query parameters, one keyed
// header and the caller (a private route).
func BenchmarkCacheKey(b *testing.B) {
	rc := fuzzRouteCache()
	ctx := fuzzCtx("/api/products/42?b=2&unkeyed=x&a=1", "gold")
	p := &auth.Principal{Issuer: "https://issuer.test", Tenant: "acme", Subject: "alice"}
	var key []byte
	b.ReportAllocs()
	st := &reqState{}
	for b.Loop() {
		st.path, st.query, st.pathBuf, _ = reqtarget.Options{}.Parse(st.pathBuf, ctx.Request.Header.RequestURI())
		st.argsParsed = false
		key = rc.appendCacheKey(key[:0], &ctx.Request.Header, st, p)
	}
}

func BenchmarkValidHost(b *testing.B) {
	h := []byte("127.0.0.1:8080")
	for b.Loop() {
		if !validHost(h) {
			b.Fatal("rejected")
		}
	}
}
