package cache

import (
	"bytes"
	"fmt"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/dgraph-io/ristretto/v2"
)

// l1 is the in-process tier: ristretto indexed by a 64-bit hash of the key,
// holding decoded entries so that a hit costs no decoding and no allocation.
type l1 struct {
	c *ristretto.Cache[uint64, *Entry]

	// mu serialises clear and close: ristretto's Clear and Close both stop
	// and restart its worker, and a Clear after Close would panic.
	mu     sync.Mutex
	closed bool

	// hash maps a key to its ristretto index. Only the collision test
	// replaces it; the full key in the entry is what decides a hit.
	hash func([]byte) uint64
}

func newL1(maxBytes, counters int64, st *stats) (*l1, error) {
	c, err := ristretto.NewCache(&ristretto.Config[uint64, *Entry]{
		NumCounters: counters,
		MaxCost:     maxBytes,
		BufferItems: 64,
		// We hash the key ourselves; an identity KeyToHash keeps ristretto
		// from re-hashing (and from boxing the key into an interface).
		KeyToHash: func(h uint64) (uint64, uint64) { return h, 0 },
		// Never let an older fill overwrite a newer one: with fencing, a
		// slow fill may finish after the fill that replaced it.
		ShouldUpdate: func(cur, prev *Entry) bool {
			return cur.seq >= prev.seq || !bytes.Equal(cur.Key, prev.Key)
		},
		OnEvict:  func(*ristretto.Item[*Entry]) { st.evictions.Add(1) },
		OnReject: func(*ristretto.Item[*Entry]) { st.l1Rejections.Add(1) },
	})
	if err != nil {
		return nil, fmt.Errorf("cannot create l1: %w", err)
	}
	return &l1{c: c, hash: xxhash.Sum64}, nil
}

// get returns the entry stored for key, or nil once its L1 lifetime has
// ended at now. It allocates nothing and reads no clock.
func (l *l1) get(key []byte, now time.Time) *Entry {
	e, ok := l.c.Get(l.hash(key))
	if !ok || now.UnixNano() >= e.l1Until || !bytes.Equal(e.Key, key) {
		return nil
	}
	return e
}

// set stores e until until, on the clock of the requests that read it,
// unless ttl (what is left of that, wall time) is not positive. Like every
// ristretto Set it is asynchronous and may be dropped; wait makes it
// visible.
//
// The lifetime is checked by get against the request's own clock reading,
// not by a ristretto TTL: ristretto reads the clock on every Get of an item
// with a TTL, a tenth of an L1 hit's handler time. An entry past its
// lifetime stays in ristretto until a fill replaces it or its cost is
// needed, and is never served.
func (l *l1) set(e *Entry, ttl time.Duration, until time.Time) {
	if ttl <= 0 {
		return
	}
	e.l1Until = until.UnixNano()
	l.c.Set(l.hash(e.Key), e, int64(e.Size()))
}

// del removes key's entry. A colliding key's entry goes too, which only
// costs that key a miss.
func (l *l1) del(key []byte) { l.c.Del(l.hash(key)) }

func (l *l1) wait() { l.c.Wait() }

// clear frees every entry. Not atomic with concurrent sets (ristretto's
// Clear is not), so correctness must come from the fence, not from this.
func (l *l1) clear() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.c.Clear()
	}
}

func (l *l1) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	l.c.Close()
}
