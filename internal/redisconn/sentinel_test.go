package redisconn

import (
	"testing"
	"time"

	"github.com/tiercel/tiercel/internal/testredis"
)

// TestFailoverMode: mode failover finds the primary through a real
// Sentinel, reads and writes it, and passes the start-up check; Health
// reports the primary.
func TestFailoverMode(t *testing.T) {
	primary := testredis.Start(t)
	sentinel := testredis.StartSentinel(t, "cache", primary)
	c := newConn(t, Config{Mode: ModeFailover, Addrs: []string{sentinel.Addr}, MasterName: "cache"})
	ctx := ctxFor(t, 10*time.Second)
	if err := c.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Client.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := primary.Client().Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("the primary holds %q (%v), want v", got, err)
	}
	if h := c.Health(ctx); h.Status != "ok" || h.Mode != ModeFailover {
		t.Fatalf("health: %+v", h)
	}
	// A name Sentinel does not know is a failure, not a hang.
	wrong := newConn(t, Config{Mode: ModeFailover, Addrs: []string{sentinel.Addr}, MasterName: "nope"})
	if err := wrong.Client.Ping(ctxFor(t, 2*time.Second)).Err(); err == nil {
		t.Fatal("a master name Sentinel does not know answered")
	}
}

// TestFailoverModeFollowsAPromotion: the primary is killed, Sentinel
// promotes its replica, and the same client writes to the new primary.
func TestFailoverModeFollowsAPromotion(t *testing.T) {
	primary := testredis.Start(t)
	replica := testredis.StartReplica(t, primary)
	sentinel := testredis.StartSentinel(t, "cache", primary)
	c := newConn(t, Config{Mode: ModeFailover, Addrs: []string{sentinel.Addr}, MasterName: "cache"})
	ctx := ctxFor(t, 60*time.Second)
	if err := c.Client.Set(ctx, "k", "v1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// Sentinel must have seen the replica before it can promote it.
	for ctx.Err() == nil {
		n, _ := sentinel.Client().Do(ctx, "sentinel", "replicas", "cache").Slice()
		if len(n) > 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	primary.Kill()
	var err error
	for ctx.Err() == nil {
		if err = c.Client.Set(ctx, "k", "v2", 0).Err(); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("no write after the promotion: %v", err)
	}
	if got, err := replica.Client().Get(ctx, "k").Result(); err != nil || got != "v2" {
		t.Fatalf("the promoted replica holds %q (%v), want v2", got, err)
	}
}
