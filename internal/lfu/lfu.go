// Package lfu is the in-process cache both L1s are built on (the cache's
// entries, the feature store's rows): ristretto (TinyLFU admission, cost
// bounded) indexed by a 64-bit hash of a byte key, so that a lookup costs
// no allocation and no interface boxing of the key. The hash alone is not
// the key: a value must carry its full key, and the caller compares it on
// every hit, so that a collision costs a miss, never another key's value.
// Lifetimes are the caller's too (checked on each hit against the
// request's clock, which costs nothing, where ristretto's TTL reads the
// clock on every Get).
//
// It must never import anything of Tiercel's.
package lfu

import (
	"fmt"
	"sync"

	"github.com/cespare/xxhash/v2"
	"github.com/dgraph-io/ristretto/v2"
)

// Config sizes a Cache.
type Config[V any] struct {
	// MaxCost bounds the sum of the costs of the values held (bytes, when
	// costs are sizes).
	MaxCost int64

	// Counters is the number of admission counters: about ten per value
	// the cache holds when full.
	Counters int64

	// ShouldUpdate, when set, decides whether Set replaces the value held
	// under the same hash (cur is the new value).
	ShouldUpdate func(cur, prev V) bool

	// OnEvict and OnReject, when set, count values evicted to make room and
	// values refused by admission.
	OnEvict, OnReject func()

	// Collide gives every key one index: only tests set it, to prove that
	// a caller never serves another key's value. (A hash func here would
	// make every key passed to Get escape to the heap.)
	Collide bool
}

// Cache is a bounded map from byte keys to V. Like every ristretto Set,
// Set is asynchronous and may be dropped: Wait makes earlier sets visible.
// All methods are safe for concurrent use.
type Cache[V any] struct {
	c       *ristretto.Cache[uint64, V]
	collide bool

	// mu serialises Clear and Close: ristretto's Clear and Close both stop
	// and restart its worker, and a Clear after Close would panic.
	mu     sync.Mutex
	closed bool
}

// New returns a cache sized by cfg.
func New[V any](cfg Config[V]) (*Cache[V], error) {
	rc := &ristretto.Config[uint64, V]{
		NumCounters: cfg.Counters,
		MaxCost:     cfg.MaxCost,
		BufferItems: 64,
		// The key is hashed here; an identity KeyToHash keeps ristretto
		// from hashing it again (and from boxing it into an interface).
		KeyToHash:    func(h uint64) (uint64, uint64) { return h, 0 },
		ShouldUpdate: cfg.ShouldUpdate,
	}
	if f := cfg.OnEvict; f != nil {
		rc.OnEvict = func(*ristretto.Item[V]) { f() }
	}
	if f := cfg.OnReject; f != nil {
		rc.OnReject = func(*ristretto.Item[V]) { f() }
	}
	c, err := ristretto.NewCache(rc)
	if err != nil {
		return nil, fmt.Errorf("cannot create cache: %w", err)
	}
	return &Cache[V]{c: c, collide: cfg.Collide}, nil
}

// index is key's ristretto key.
func (c *Cache[V]) index(key []byte) uint64 {
	if c.collide {
		return 42
	}
	return xxhash.Sum64(key)
}

// Get returns the value held for key's hash: the caller must check that
// it is key's. It allocates nothing.
func (c *Cache[V]) Get(key []byte) (V, bool) { return c.c.Get(c.index(key)) }

// Set stores v under key's hash for cost.
func (c *Cache[V]) Set(key []byte, v V, cost int64) { c.c.Set(c.index(key), v, cost) }

// Del removes the value held for key's hash (a colliding key's value goes
// too, which costs that key a miss). It is ordered after earlier sets.
func (c *Cache[V]) Del(key []byte) { c.c.Del(c.index(key)) }

// Wait blocks until earlier sets are applied (or dropped).
func (c *Cache[V]) Wait() { c.c.Wait() }

// Clear removes every value. Not atomic with concurrent sets (ristretto's
// Clear is not): correctness must not depend on it. A no-op after Close.
func (c *Cache[V]) Clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.c.Clear()
	}
}

// Close stops ristretto's goroutines. Safe to call more than once.
func (c *Cache[V]) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		c.c.Close()
	}
}
