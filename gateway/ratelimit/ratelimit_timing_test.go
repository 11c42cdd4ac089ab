package ratelimit

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/tiercel/tiercel/internal/testredis"
	"golang.org/x/time/rate"
)

// benchConfig never denies in practice, so the benchmarks measure the
// common path, and holds 100k keys in several shards, as in production.
var benchConfig = Config{MaxKeys: 1_000_000, Policies: map[string]Policy{
	"api":     {Rate: 1e9, Burst: 1e9, Tiers: map[string]Tier{"pro": {Rate: 1e9, Burst: 1e9}}},
	"cluster": {Rate: 1e9, Burst: 1e9, Cluster: true},
}}

func benchKeys(n int) [][]byte {
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "subject-%08d", i)
	}
	return keys
}

// BenchmarkRateLimiterBaseline is one bare x/time/rate bucket: the floor
// that Allow's lookup, bookkeeping and headers add to.
func BenchmarkRateLimiterBaseline(b *testing.B) {
	lim := rate.NewLimiter(1e9, 1e9)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		lim.AllowN(now, 1)
		lim.TokensAt(now)
	}
}

func BenchmarkAllowExisting(b *testing.B) {
	h := mustRoute(b, newLimiter(b, benchConfig, nil), "/products", "api")
	keys := benchKeys(100_000)
	now := time.Now()
	for _, k := range keys {
		h.Allow(now, k, "pro")
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		h.Allow(now, keys[i%len(keys)], "pro")
		i++
	}
}

func BenchmarkAllowParallel(b *testing.B) {
	h := mustRoute(b, newLimiter(b, benchConfig, nil), "/products", "api")
	keys := benchKeys(100_000)
	now := time.Now()
	for _, k := range keys {
		h.Allow(now, k, "")
	}
	var worker atomic.Int64
	b.ReportAllocs()
	b.ResetTimer() // RunParallel, unlike b.Loop, would count the setup
	b.RunParallel(func(pb *testing.PB) {
		i := int(worker.Add(1)) * 7919
		for pb.Next() {
			h.Allow(now, keys[i%len(keys)], "")
			i++
		}
	})
}

// BenchmarkAllowParallelOneKey is the worst case: every core on one bucket.
func BenchmarkAllowParallelOneKey(b *testing.B) {
	h := mustRoute(b, newLimiter(b, benchConfig, nil), "/products", "api")
	key := []byte("tenant-1")
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h.Allow(now, key, "")
		}
	})
}

// BenchmarkAllowNewKeys is a flood of new client IPs into a full route.
func BenchmarkAllowNewKeys(b *testing.B) {
	cfg := benchConfig
	cfg.MaxKeys = 10_000
	h := mustRoute(b, newLimiter(b, cfg, nil), "/products", "api")
	now := time.Now()
	buf := make([]byte, 0, 32)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		buf = fmt.Appendf(buf[:0], "10.%d.%d.%d", byte(i>>16), byte(i>>8), byte(i))
		h.Allow(now, buf, "")
		i++
	}
}

func BenchmarkAllowClusterRedis(b *testing.B) {
	srv := testredis.Start(b)
	cfg := benchConfig
	cfg.RedisTimeout = time.Second
	h := mustRoute(b, newLimiter(b, cfg, srv.Client()), "/products", "cluster")
	key := []byte("alice")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if d := h.AllowCtx(ctx, time.Now(), key, ""); d.Fallback {
			b.Fatalf("fell back: %+v", d)
		}
	}
}

// BenchmarkRedisRateBaseline is redis_rate alone, to show what the deadline
// guard and breaker around it cost.
func BenchmarkRedisRateBaseline(b *testing.B) {
	srv := testredis.Start(b)
	gcra := redis_rate.NewLimiter(srv.Client())
	lim := redisLimit(1e9, 1e9)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := gcra.Allow(ctx, "tiercel:rl:/products:alice", lim); err != nil {
			b.Fatal(err)
		}
	}
}
