package gateway

import (
	"slices"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tiercel/tiercel/internal/testredis"
	"github.com/tiercel/tiercel/internal/testwait"
)

// BenchmarkFeastVsNative100x50 is the goal: the same read of 100
// entities × 50 features through the whole gateway handler in Feast's
// shape (POST /get-online-features) and the gateway's own (POST
// /v1/features), from L1 and from L2 (Redis, every row a miss in L1),
// the two shapes side by side in one run. "pair" alternates them request
// by request, so that both see the same load on a shared machine, and
// reports the ratio of their medians (goal: feast/native ≤ 1.2).
func BenchmarkFeastVsNative100x50(b *testing.B) {
	b.Run("L1", func(b *testing.B) { benchFeastVsNative(b, "") })
	b.Run("L2", func(b *testing.B) { benchFeastVsNative(b, testredis.Start(b).URL()) })
}

func benchFeastVsNative(b *testing.B, redisURL string) {
	s, bodies := newFeatureBenchServerAt(b, redisURL)
	tok := token(b, nil)
	native := newPostCtx("/v1/features", tok, bodies.native)
	feast := newPostCtx("/get-online-features", tok, bodies.feast)
	serve := func(tb testing.TB, ctx *fasthttp.RequestCtx) {
		ctx.Response.Reset()
		s.handle(ctx)
		if ctx.Response.StatusCode() != 200 {
			tb.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
	// Warm up until a request is answered from the tier measured alone.
	st := func() (l1, redis uint64) {
		x := s.current().features.Stats()
		return x.RowL1Hits, x.RowRedisReads
	}
	testwait.For(b, 5*time.Second, "the rows to reach their tier", func() bool {
		serve(b, native)
		serve(b, feast)
		s.current().features.Wait()
		l1, redis := st()
		serve(b, feast)
		l1b, redisb := st()
		if redisURL != "" {
			return redisb-redis == benchEntities && l1b == l1
		}
		return l1b-l1 == benchEntities
	})
	b.Run("native", func(b *testing.B) { benchLatencies(b, func() { serve(b, native) }) })
	b.Run("feast", func(b *testing.B) { benchLatencies(b, func() { serve(b, feast) }) })
	b.Run("pair", func(b *testing.B) {
		n := make([]time.Duration, 0, 1024)
		f := make([]time.Duration, 0, 1024)
		for b.Loop() {
			t0 := time.Now()
			serve(b, native)
			t1 := time.Now()
			serve(b, feast)
			n = append(n, t1.Sub(t0))
			f = append(f, time.Since(t1))
		}
		slices.Sort(n)
		slices.Sort(f)
		b.ReportMetric(float64(n[len(n)/2].Microseconds()), "native-p50-µs")
		b.ReportMetric(float64(f[len(f)/2].Microseconds()), "feast-p50-µs")
		b.ReportMetric(float64(f[len(f)/2])/float64(n[len(n)/2]), "feast/native")
	})
}
