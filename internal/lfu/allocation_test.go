//go:build !race

package lfu

import "testing"

// Get is on every L1 hit: it must not allocate.
func TestGetAllocatesNothing(t *testing.T) {
	c := newCache(t, Config[*item]{})
	key := []byte("GET /users/1")
	c.Set(key, &item{key: string(key)}, 1)
	c.Wait()
	if n := testing.AllocsPerRun(1000, func() {
		if _, ok := c.Get(key); !ok {
			t.Fatal("Get missed")
		}
	}); n != 0 {
		t.Fatalf("Get: %v allocs", n)
	}
}
