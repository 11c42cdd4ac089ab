package testredis

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestClusterFailover starts a 3+3 cluster, writes keys on every master,
// kills one master and sees its replica promoted with the data.
func TestClusterFailover(t *testing.T) {
	c := StartCluster(t, 3, 1)
	if got := len(c.Masters()); got != 3 {
		t.Fatalf("%d masters, want 3", got)
	}
	cc := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 100 {
		if err := cc.Set(ctx, fmt.Sprint("k", i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	dead := c.KillMaster("k1")
	c.WaitHealthy()
	if got := len(c.Masters()); got != 3 {
		t.Fatalf("%d masters after failover, want 3", got)
	}
	if m := c.MasterFor("k1"); m == dead {
		t.Fatalf("k1 still on the killed master")
	}
	// The client learns the new map lazily, after a failed call.
	for {
		err := cc.Set(ctx, "k1", "again", 0).Err()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("write after failover: %v", err)
		}
		// go-redis learns the new map only every 10 s or after a MOVED
		// reply, never from a refused connection: the gateway reloads it
		// itself (internal/redisconn), and so does this test.
		cc.ReloadState(ctx)
		time.Sleep(50 * time.Millisecond)
	}
}
