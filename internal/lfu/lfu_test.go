package lfu

import (
	"testing"
)

type item struct {
	key string
	seq int
}

func newCache(t *testing.T, cfg Config[*item]) *Cache[*item] {
	t.Helper()
	if cfg.MaxCost == 0 {
		cfg.MaxCost, cfg.Counters = 1<<20, 1000
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestSetGetDel(t *testing.T) {
	c := newCache(t, Config[*item]{})
	c.Set([]byte("a"), &item{key: "a"}, 1)
	c.Wait()
	if v, ok := c.Get([]byte("a")); !ok || v.key != "a" {
		t.Fatalf("Get(a) = %v, %v", v, ok)
	}
	c.Del([]byte("a"))
	c.Wait()
	if _, ok := c.Get([]byte("a")); ok {
		t.Fatal("Get after Del hit")
	}
}

// Colliding keys share one slot, which is why a value carries its key.
func TestCollidingKeysShareASlot(t *testing.T) {
	c := newCache(t, Config[*item]{Collide: true})
	c.Set([]byte("a"), &item{key: "a"}, 1)
	c.Wait()
	if v, ok := c.Get([]byte("b")); !ok || v.key != "a" {
		t.Fatalf("Get(b) = %v, %v: want a's value, for the caller to refuse", v, ok)
	}
}

// ShouldUpdate keeps a newer value from being replaced by an older one.
func TestShouldUpdate(t *testing.T) {
	c := newCache(t, Config[*item]{ShouldUpdate: func(cur, prev *item) bool { return cur.seq >= prev.seq }})
	c.Set([]byte("a"), &item{key: "a", seq: 2}, 1)
	c.Wait()
	c.Set([]byte("a"), &item{key: "a", seq: 1}, 1)
	c.Wait()
	if v, _ := c.Get([]byte("a")); v == nil || v.seq != 2 {
		t.Fatalf("Get(a) = %v, want seq 2", v)
	}
}

// Values over MaxCost are rejected, and counted.
func TestOnReject(t *testing.T) {
	rejected := 0
	c := newCache(t, Config[*item]{MaxCost: 10, Counters: 100, OnReject: func() { rejected++ }})
	c.Set([]byte("big"), &item{key: "big"}, 100)
	c.Wait()
	if rejected != 1 {
		t.Fatalf("%d rejections, want 1", rejected)
	}
}

// Clear after Close is a no-op (ristretto's would panic), and Close twice
// is fine.
func TestClearAndClose(t *testing.T) {
	c := newCache(t, Config[*item]{})
	c.Set([]byte("a"), &item{key: "a"}, 1)
	c.Wait()
	c.Clear()
	if _, ok := c.Get([]byte("a")); ok {
		t.Fatal("Get after Clear hit")
	}
	c.Close()
	c.Clear()
	c.Close()
}
