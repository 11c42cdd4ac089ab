package redisconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tiercel/tiercel/internal/testnet"
	"github.com/tiercel/tiercel/internal/testredis"
)

func newConn(t *testing.T, cfg Config) *Conn {
	t.Helper()
	cfg.SetDefaults()
	c, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestCheck: a client whose mode does not match the server's is refused at
// start (seen: a single-node client on a cluster master said ready and
// failed most calls); an unreachable Redis is not (the gateway starts
// degraded).
func TestCheck(t *testing.T) {
	cl := testredis.StartCluster(t, 3, 0)
	plain := testredis.Start(t)

	single := newConn(t, Config{URL: "redis://" + cl.Nodes[0].Addr})
	err := single.Check(ctxFor(t, 2*time.Second))
	if !errors.Is(err, ErrWrongMode) || !strings.Contains(err.Error(), "redis.mode: cluster") {
		t.Fatalf("single client on a cluster node: %v", err)
	}
	wrong := newConn(t, Config{Mode: ModeCluster, Addrs: []string{plain.Addr}})
	if err := wrong.Check(ctxFor(t, 2*time.Second)); !errors.Is(err, ErrWrongMode) {
		t.Fatalf("cluster client on a plain node: %v", err)
	}
	for _, c := range []*Conn{
		newConn(t, Config{URL: plain.URL()}),
		newConn(t, Config{Mode: ModeCluster, Addrs: cl.Addrs()[:1]}),
		newConn(t, Config{URL: fmt.Sprintf("redis://127.0.0.1:%d", testnet.FreePort(t))}),
	} {
		if err := c.Check(ctxFor(t, 2*time.Second)); err != nil {
			t.Fatalf("%s: %v", c.mode, err)
		}
	}
}

// TestErrorsCountedByKind: error replies from a real cluster are counted
// by kind and make Health degraded (seen: 103 CROSSSLOT replies, nothing
// counted, nothing logged, ready).
func TestErrorsCountedByKind(t *testing.T) {
	cl := testredis.StartCluster(t, 3, 0)
	// The wrong client on purpose: the server's own replies are wanted.
	c := newConn(t, Config{URL: "redis://" + cl.Nodes[0].Addr})
	ctx := ctxFor(t, 5*time.Second)
	if h := c.Health(ctx); h.Status != "ok" {
		t.Fatalf("health before errors: %+v", h)
	}
	for i := range 20 {
		_ = c.Client.MGet(ctx, fmt.Sprint("a", i), fmt.Sprint("b", i), fmt.Sprint("c", i)).Err()
		_ = c.Client.Get(ctx, fmt.Sprint("k", i)).Err()
	}
	e := c.Errors()
	if e["crossslot"] == 0 || e["moved"] == 0 {
		t.Fatalf("errors by kind: %v", e)
	}
	h := c.Health(ctx)
	if h.Status != "degraded" || (h.Recent != "crossslot" && h.Recent != "moved") {
		t.Fatalf("health after error replies: %+v", h)
	}
	// Pipelines too: each command's error is counted.
	before := c.Errors()["crossslot"]
	p := c.Client.Pipeline()
	p.MGet(ctx, "x1", "y1", "z1")
	p.MGet(ctx, "x2", "y2", "z2")
	_, _ = p.Exec(ctx)
	if got := c.Errors()["crossslot"] - before; got != 2 {
		t.Fatalf("pipeline: %d crossslot counted, want 2", got)
	}
}

// TestClusterFailoverReload: after a master is killed and its replica
// promoted, the shared client serves its slots again without waiting for
// go-redis's 10 s refresh: the hook reloads the map on the refused
// connections.
func TestClusterFailoverReload(t *testing.T) {
	cl := testredis.StartCluster(t, 3, 1)
	c := newConn(t, Config{Mode: ModeCluster, Addrs: cl.Addrs()[:1]})
	ctx := ctxFor(t, 30*time.Second)
	if err := c.Client.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	dead := cl.KillMaster("k")
	h := c.Health(ctxFor(t, time.Second))
	if h.Status == "ok" {
		t.Fatalf("health with a master killed: %+v", h)
	}
	start := time.Now()
	var err error
	for ctx.Err() == nil {
		if err = c.Client.Set(ctx, "k", "again", 0).Err(); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("no write after failover: %v", err)
	}
	if c.Reloads() == 0 || c.Errors()[KindConnection] == 0 {
		t.Fatalf("reloads %d, errors %v", c.Reloads(), c.Errors())
	}
	t.Logf("writes back %v after killing %s; errors %v", time.Since(start).Round(time.Millisecond), dead.Addr, c.Errors())
	cl.WaitHealthy()
	if h := c.Health(ctxFor(t, time.Second)); len(h.Nodes) != 3 {
		t.Fatalf("health after failover: %+v", h)
	}
}
