package redisconn

import (
	"testing"
	"time"

	"github.com/tiercel/tiercel/internal/testredis"
)

// TestConnectionSetupNotCounted: the commands go-redis sends when it opens
// a connection, some refused by Redis 7.0 (CLIENT SETINFO,
// MAINT_NOTIFICATIONS), are not the application's errors (seen: three
// "err" per connection and a warning at every start).
func TestConnectionSetupNotCounted(t *testing.T) {
	s := testredis.Start(t)
	c := newConn(t, Config{URL: s.URL(), PoolSize: 4})
	ctx := ctxFor(t, 5*time.Second)
	for range 8 {
		if err := c.Client.Ping(ctx).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for kind, n := range c.Errors() {
		if n != 0 {
			t.Fatalf("%d %s errors after PINGs: %v", n, kind, c.Errors())
		}
	}
	_ = c.Client.Do(ctx, "nosuchcommand").Err()
	if c.Errors()["err"] != 1 {
		t.Fatalf("an application error not counted: %v", c.Errors())
	}
}
