package cache

import (
	"bytes"
	"fmt"
	"time"

	"github.com/tiercel/tiercel/internal/lfu"
)

// l1 is the in-process tier: decoded entries in an lfu.Cache, so that a hit
// costs no decoding and no allocation.
type l1 struct{ c *lfu.Cache[*Entry] }

// newL1 returns an L1 holding up to maxBytes of entries. collide is for
// the collision test only (lfu.Config.Collide).
func newL1(maxBytes, counters int64, st *stats, collide bool) (*l1, error) {
	c, err := lfu.New(lfu.Config[*Entry]{
		MaxCost:  maxBytes,
		Counters: counters,
		// Never let an older fill overwrite a newer one: with fencing, a
		// slow fill may finish after the fill that replaced it.
		ShouldUpdate: func(cur, prev *Entry) bool {
			return cur.seq >= prev.seq || !bytes.Equal(cur.Key, prev.Key)
		},
		OnEvict:  func() { st.evictions.Add(1) },
		OnReject: func() { st.l1Rejections.Add(1) },
		Collide:  collide,
	})
	if err != nil {
		return nil, fmt.Errorf("cannot create l1: %w", err)
	}
	return &l1{c: c}, nil
}

// get returns the entry stored for key, or nil once its L1 lifetime has
// ended at now. It allocates nothing and reads no clock.
func (l *l1) get(key []byte, now time.Time) *Entry {
	e, ok := l.c.Get(key)
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
// with a TTL, about 60 ns a Get (BenchmarkRistrettoGet/ttl against
// /no-ttl), a few percent of a whole L1 hit (BenchmarkHandleL1Hit). An entry past its
// lifetime stays in ristretto until a fill replaces it or its cost is
// needed, and is never served.
func (l *l1) set(e *Entry, ttl time.Duration, until time.Time) {
	if ttl <= 0 {
		return
	}
	e.l1Until = until.UnixNano()
	l.c.Set(e.Key, e, int64(e.Size()))
}

// del removes key's entry. A colliding key's entry goes too, which only
// costs that key a miss.
func (l *l1) del(key []byte) { l.c.Del(key) }

func (l *l1) wait() { l.c.Wait() }

// clear frees every entry. Not atomic with concurrent sets (ristretto's
// Clear is not), so correctness must come from the fence, not from this.
func (l *l1) clear() { l.c.Clear() }

func (l *l1) close() { l.c.Close() }
