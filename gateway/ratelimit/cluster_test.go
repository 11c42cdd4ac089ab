package ratelimit

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tiercel/tiercel/internal/breaker"
	"github.com/tiercel/tiercel/internal/testredis"
	"github.com/tiercel/tiercel/internal/testwait"
)

// clusterConfig is a cluster policy that does not refill during a test: its
// rate is one token per 1000s, which Redis, on its own clock, honours.
func clusterConfig(burst int, redisTimeout time.Duration) Config {
	return Config{RedisTimeout: redisTimeout, Policies: map[string]Policy{
		"shared": {Rate: 0.001, Burst: burst, Cluster: true},
		"local":  {Rate: 0.001, Burst: burst},
	}}
}

// allowWithin calls AllowCtx under a 1s deadline and fails if the call used
// it up: a bound on hanging, not a latency assertion.
func allowWithin(t *testing.T, h *Handle, key string) Decision {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	d := h.AllowCtx(ctx, time.Now(), []byte(key), "")
	if ctx.Err() != nil {
		t.Fatalf("AllowCtx(%q) did not return within 1s", key)
	}
	return d
}

func TestClusterSharedBudget(t *testing.T) {
	t.Run("single", func(t *testing.T) { testClusterSharedBudget(t, testredis.Start(t).Client()) })
	// Redis Cluster (issue 15): alice's and bob's buckets on two masters.
	t.Run("redis-cluster", func(t *testing.T) {
		c := testredis.StartCluster(t, 3, 0)
		if a, b := c.MasterFor("rate:tiercel:rl:/products:alice"), c.MasterFor("rate:tiercel:rl:/products:bob"); a == b {
			t.Fatalf("alice's and bob's buckets share master %s: pick other names", a.Addr)
		}
		testClusterSharedBudget(t, c.Client())
	})
}

func testClusterSharedBudget(t *testing.T, rdb redis.UniversalClient) {
	// A generous budget: this test is about sharing, not about timeouts.
	cfg := clusterConfig(10, time.Second)
	a := newLimiter(t, cfg, rdb)
	b := newLimiter(t, cfg, rdb)
	handles := []*Handle{mustRoute(t, a, "/products", "shared"), mustRoute(t, b, "/products", "shared")}

	allowed := 0
	for i := range 20 {
		d := allowWithin(t, handles[i%2], "alice")
		if d.Fallback || d.Limit != 10 {
			t.Fatalf("call %d: %+v; want a cluster decision with Limit 10", i, d)
		}
		if d.Allowed {
			allowed++
			if d.Remaining != 10-allowed || d.RetryAfter != 0 {
				t.Fatalf("allowed call %d: %+v; want Remaining %d", i, d, 10-allowed)
			}
			continue
		}
		if d.Remaining != 0 || d.RetryAfter <= 0 || d.Reset <= 0 {
			t.Fatalf("denied call %d: %+v; want Remaining 0 and positive RetryAfter and Reset", i, d)
		}
	}
	if allowed != 10 {
		t.Fatalf("%d allowed across two instances; want one shared burst of 10", allowed)
	}
	if d := allowWithin(t, mustRoute(t, a, "/orders", "shared"), "alice"); !d.Allowed {
		t.Fatalf("alice on /orders denied by her /products budget: %+v", d)
	}
	if d := allowWithin(t, handles[1], "bob"); !d.Allowed {
		t.Fatalf("bob denied by alice's budget: %+v", d)
	}
	if s := a.Stats(); s.Allowed+s.Rejected != 11 || s.Fallbacks != 0 || s.LiveKeys != 0 {
		t.Fatalf("a.Stats() = %+v; want 11 cluster decisions, no local buckets", s)
	}
}

func TestClusterOnlyWhenAsked(t *testing.T) {
	srv := testredis.Start(t)
	rdb := srv.Client()
	h := mustRoute(t, newLimiter(t, clusterConfig(3, time.Second), rdb), "/products", "local")
	for range 5 {
		allowWithin(t, h, "alice")
	}
	if n := rdb.DBSize(t.Context()).Val(); n != 0 {
		t.Fatalf("a local policy wrote %d keys to Redis", n)
	}

	// A cluster policy without Redis is local, and says so by not falling back.
	l := newLimiter(t, clusterConfig(3, time.Second), nil)
	if got := l.RedisState(); got != "disabled" {
		t.Fatalf("RedisState() without Redis = %q; want disabled", got)
	}
	if d := allowWithin(t, mustRoute(t, l, "/products", "shared"), "alice"); !d.Allowed || d.Fallback || d.Remaining != 2 {
		t.Fatalf("cluster policy without Redis: %+v; want a local decision", d)
	}
}

func TestClusterFallsBackWhileRedisIsDown(t *testing.T) {
	f := func(name string, fail, recover func(*testredis.Server)) {
		t.Run(name, func(t *testing.T) {
			srv := testredis.Start(t)
			l := newLimiter(t, clusterConfig(5, 100*time.Millisecond), srv.Client())
			h := mustRoute(t, l, "/products", "shared")
			if d := allowWithin(t, h, "alice"); d.Fallback || !d.Allowed {
				t.Fatalf("healthy Redis: %+v; want an allowed cluster decision", d)
			}
			if got := l.RedisState(); got != "closed" {
				t.Fatalf("healthy RedisState() = %q; want closed", got)
			}

			fail(srv)
			// The local bucket answers, and still limits: 5 allowed, then denied.
			for i := range 20 {
				d := allowWithin(t, h, "alice")
				if !d.Fallback || d.Allowed != (i < 5) || d.Limit != 5 {
					t.Fatalf("call %d with Redis down: %+v; want a local fallback, allowed only for the first 5", i, d)
				}
			}
			s := l.Stats()
			if s.Fallbacks != 20 || s.RedisErrors < breaker.DefaultFailures || s.RedisErrors >= 20 {
				t.Fatalf("Stats() = %+v; want 20 fallbacks and the breaker to stop calls after %d errors", s, breaker.DefaultFailures)
			}
			if got := l.RedisState(); got == "closed" {
				t.Fatalf("RedisState() with Redis down = %q; want open or half-open", got)
			}

			recover(srv)
			if !testwait.Until(10*time.Second, func() bool { return !allowWithin(t, h, "bob").Fallback }) {
				t.Fatalf("still falling back 10s after Redis came back; Stats %+v", l.Stats())
			}
			if got := l.RedisState(); got != "closed" {
				t.Fatalf("RedisState() after recovery = %q; want closed", got)
			}
		})
	}
	f("killed", (*testredis.Server).Kill, (*testredis.Server).Restart)
	f("paused", (*testredis.Server).Pause, (*testredis.Server).Resume)
}

func TestClusterCanceledContext(t *testing.T) {
	srv := testredis.Start(t)
	l := newLimiter(t, clusterConfig(5, time.Second), srv.Client())
	h := mustRoute(t, l, "/products", "shared")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for range 2 * breaker.DefaultFailures {
		if d := h.AllowCtx(ctx, time.Now(), []byte("alice"), ""); !d.Fallback {
			t.Fatalf("AllowCtx with a canceled context: %+v; want a local fallback", d)
		}
	}
	// The client went away; Redis did nothing wrong.
	if s := l.Stats(); s.RedisErrors != 0 || l.RedisState() != "closed" {
		t.Fatalf("canceled contexts counted against Redis: %+v, breaker %s", s, l.RedisState())
	}
}

// Config.Breaker tunes the breaker: two failures open it, and for its
// hour-long cooldown nothing more is sent to a Redis that is down.
func TestClusterBreakerConfig(t *testing.T) {
	srv := testredis.Start(t)
	cfg := clusterConfig(5, 100*time.Millisecond)
	cfg.Breaker = breaker.Config{Failures: 2, Cooldown: time.Hour}
	l := newLimiter(t, cfg, srv.Client())
	h := mustRoute(t, l, "/products", "shared")
	srv.Kill()
	for range 10 {
		if d := allowWithin(t, h, "alice"); !d.Fallback {
			t.Fatalf("Redis down: %+v; want a local fallback", d)
		}
	}
	if s := l.Stats(); s.RedisErrors != 2 || l.RedisState() != "open" {
		t.Fatalf("Stats() = %+v, breaker %s; want 2 Redis errors and the breaker open", s, l.RedisState())
	}
}
