package features

import (
	"fmt"

	"github.com/tiercel/tiercel/internal/lfu"
)

// rowCache is L1 for the rows of redis and memory views (Redis, or the
// memory source, is their L2). It is a bare lfu.Cache rather than a
// cache.Tiered: a row is stored by the Get that read it, with no fill to
// coalesce and no tier below to consult, and the Tiered's fill machinery
// (a flight and a goroutine per key) cost more than the read of a
// hundred rows itself. Writes are fenced by view.writes, not here.
type rowCache struct{ c *lfu.Cache[*cachedRow] }

// cachedRow is one row's encoding (row.go) and until when it is fresh.
type cachedRow struct {
	key        string // the full key decides a hit; the index is its hash
	enc        []byte
	freshUntil int64 // Unix ns
}

func newRowCache(maxBytes int64) (*rowCache, error) {
	c, err := lfu.New(lfu.Config[*cachedRow]{
		MaxCost: maxBytes,
		// Rows are small: many counters per byte.
		Counters: max(maxBytes/20, 1000),
	})
	if err != nil {
		return nil, fmt.Errorf("cannot create row cache: %w", err)
	}
	return &rowCache{c: c}, nil
}

// get returns key's row if it is fresh at nowNs. It allocates nothing.
func (rc *rowCache) get(key []byte, nowNs int64) ([]byte, bool) {
	r, ok := rc.c.Get(key)
	if !ok || r.freshUntil <= nowNs || r.key != string(key) {
		return nil, false
	}
	return r.enc, true
}

// set stores a row. Like every ristretto Set it is asynchronous and may be
// dropped; wait makes it visible.
func (rc *rowCache) set(key string, enc []byte, freshUntil int64) {
	r := &cachedRow{key: key, enc: enc, freshUntil: freshUntil}
	rc.c.Set(stringBytes(key), r, int64(len(key)+len(enc)+64))
}

// del drops keys' rows; it is ordered with earlier sets.
func (rc *rowCache) del(keys ...[]byte) {
	for _, k := range keys {
		rc.c.Del(k)
	}
}

func (rc *rowCache) wait()  { rc.c.Wait() }
func (rc *rowCache) clear() { rc.c.Clear() }
func (rc *rowCache) close() { rc.c.Close() }
