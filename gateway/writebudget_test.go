package gateway

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tiercel/tiercel/internal/testwait"
)

// TestWriteInvalidationOutlivesItsBudget: RFC 9111 §4.4 says a cache MUST
// invalidate the target URI after a successful unsafe request; a write
// that used up its route's budget at the origin must not lose that. Redis
// here answers reads but holds every write (CLIENT PAUSE WRITE), so the
// generation bump cannot land within the write's budget. The write is
// still answered within it; replica A's next read is a MISS with the new
// version, never the old one from L2; the bump lands once Redis takes
// writes again; and the event reaches replica B. A single node only: the
// package's cluster is shared and must not be hurt.
func TestWriteInvalidationOutlivesItsBudget(t *testing.T) {
	const budget = 300 * time.Millisecond
	rs := singleRedis(t)
	p, _, _ := newKafkaWritePair(t, rs, func(c *Config) {
		c.Cache.InvalidateTimeout = time.Minute // the pause, not this, ends the bump
		for i := range c.Routes {
			if c.Routes[i].Name == "w" {
				c.Routes[i].Timeout = budget
			}
		}
	})
	vs := variants(t, "/w/k")
	warm(t, p.a, vs)
	warm(t, p.b, vs)
	ctx := context.Background()
	testwait.For(t, 5*time.Second, "the entries in L2", func() bool {
		return len(rs.keys(t, "tiercel:e:*")) >= len(vs)
	})
	genKey := "tiercel:tg:{}path:/w/k"
	gen := func() string { return rs.client.Get(ctx, genKey).Val() }
	genBefore, before := gen(), p.origin.version.Load()

	unpause := pauseWrites(t, rs.client)
	start := time.Now()
	write(t, p.a, "POST", "/w/k", 200)
	// Had the answer waited for the bump, it would have waited a minute.
	if d := time.Since(start); d > budget+time.Second {
		t.Fatalf("the write was answered after %v, past its %v budget", d, budget)
	}
	expect(t, p.a, vs, before, "MISS")
	if g := gen(); g != genBefore {
		t.Fatalf("the generation moved (%s -> %s) while Redis held writes", genBefore, g)
	}
	unpause()
	testwait.For(t, 10*time.Second, "the bump to land in Redis", func() bool { return gen() != genBefore })
	for _, v := range vs {
		testwait.For(t, 10*time.Second, "B to drop "+v.target+" "+strings.Join(v.lines, ""), func() bool {
			return p.b.raw("GET", v.target, v.lines...).version(t) > before
		})
	}
	if st := p.a.srv.gen.Load().cache.Stats(); st.L2Detached == 0 || st.L2PendingMiss == 0 {
		t.Fatalf("the bump did not outlive the write, or no L2 entry was refused meanwhile: %+v", st)
	}
	testwait.For(t, 10*time.Second, "A's bump to be confirmed", func() bool { return p.a.srv.gen.Load().cache.Stats().L2Pending == 0 })
	if m := p.a.metrics(t); !strings.Contains(m, "tiercel_write_invalidation_l2_errors_total 0\n") {
		t.Fatalf("/metrics: a bump that landed is counted as lost:\n%s", grepLines(m, "l2_errors"))
	}
}

// pauseWrites makes the Redis of client hold every write command, scripts
// included, until unpaused (CLIENT PAUSE ... WRITE, Redis 6.2+), while
// reads go on. The pause ends at the latest when the test does.
func pauseWrites(t *testing.T, client redis.UniversalClient) (unpause func()) {
	t.Helper()
	ctx := context.Background()
	if err := client.Do(ctx, "client", "pause", 60_000, "write").Err(); err != nil {
		t.Fatalf("CLIENT PAUSE: %v", err)
	}
	unpause = func() {
		if err := client.Do(ctx, "client", "unpause").Err(); err != nil {
			t.Errorf("CLIENT UNPAUSE: %v", err)
		}
	}
	t.Cleanup(unpause)
	return unpause
}
