package cache

import (
	"sync"
	"sync/atomic"
	"time"
)

// Version fencing, local half (the L2 half is the generations in l2.go).
//
// Every fill and every L2 read takes a sequence number from one process-wide
// counter before it starts; every applied invalidation takes one too and
// leaves a tombstone: key or tag -> sequence. An L1 entry is valid only if
// its sequence is newer than the tombstones of its key and of each of its
// tags. So a fill that started before an invalidation can neither be stored
// nor served after it, without scanning any keys: invalidation is O(1) per
// key or tag.
//
// Tombstones live TombstoneTTL, which is also the longest an entry stays in
// L1 after its fill started, so an entry is gone before a tombstone that
// could fence it. As a second line, dropping a tombstone (by age, or early
// because MaxTombstones was reached) raises a floor: entries not newer than
// any dropped tombstone are invalid. Being wrong that way costs a miss.
type fence struct {
	// seq is the sequence counter. Invalidations take theirs under mu, so
	// that last only grows.
	seq atomic.Uint64

	// last is the sequence of the latest invalidation. Entries newer than it
	// are valid without taking mu: the common case on the hit path.
	last atomic.Uint64

	ttl time.Duration
	max int

	mu      sync.RWMutex
	keys    map[string]uint64
	tags    map[string]uint64
	queue   []tombstone // oldest first
	head    int         // queue[:head] are already dropped
	dropped uint64      // floor: highest sequence of a dropped tombstone

	// pend marks the keys and tags whose L2 invalidation (generation bump)
	// is not confirmed yet (pending.go), under mu; anyPending says whether
	// any mark may be live, so that an L2 hit checks one atomic when none is.
	pend       pendingMarks
	anyPending atomic.Bool
}

type tombstone struct {
	name string
	tag  bool
	seq  uint64
	at   time.Time
}

func newFence(ttl time.Duration, max int) *fence {
	return &fence{ttl: ttl, max: max, keys: map[string]uint64{}, tags: map[string]uint64{},
		pend: pendingMarks{keys: map[string]pendingMark{}, tags: map[string]pendingMark{}}}
}

// next returns a sequence for a fill or L2 read that is about to start.
func (f *fence) next() uint64 { return f.seq.Add(1) }

// valid reports whether an entry made under seq for key and tags has not
// been overtaken by an invalidation. It allocates nothing.
func (f *fence) valid(seq uint64, key []byte, tags []string) bool {
	if seq > f.last.Load() {
		return true
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.validLocked(seq, key, tags)
}

// validEntry is valid for an L1 entry, remembering in the entry the last
// invalidation it was checked against: after an invalidation every older
// entry is looked up in the tombstones once, then hits are lock-free again
// instead of all contending on mu.
func (f *fence) validEntry(e *Entry) bool {
	last := f.last.Load()
	if e.seq > last || atomic.LoadUint64(&e.checked) >= last {
		return true
	}
	f.mu.RLock()
	// Read under mu: every tombstone up to this last is in the maps.
	last = f.last.Load()
	ok := f.validLocked(e.seq, e.Key, e.Tags)
	f.mu.RUnlock()
	if ok {
		// A racing store of an older value only costs another lookup.
		atomic.StoreUint64(&e.checked, last)
	}
	return ok
}

func (f *fence) validLocked(seq uint64, key []byte, tags []string) bool {
	if seq <= f.dropped || f.keys[string(key)] > seq {
		return false
	}
	for _, t := range tags {
		if f.tags[t] > seq {
			return false
		}
	}
	return true
}

// invalidate records tombstones for keys and tags at now and returns their
// sequence: from then on valid rejects everything made before it.
func (f *fence) invalidate(now time.Time, keys [][]byte, tags []string) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.invalidateLocked(now, keys, tags)
}

func (f *fence) invalidateLocked(now time.Time, keys [][]byte, tags []string) uint64 {
	seq := f.seq.Add(1)
	f.expire(now)
	for _, k := range keys {
		f.add(string(k), false, seq, now)
	}
	for _, t := range tags {
		f.add(t, true, seq, now)
	}
	f.last.Store(seq)
	return seq
}

func (f *fence) add(name string, tag bool, seq uint64, now time.Time) {
	m := f.keys
	if tag {
		m = f.tags
	}
	m[name] = seq
	f.queue = append(f.queue, tombstone{name: name, tag: tag, seq: seq, at: now})
	if len(f.queue)-f.head > f.max {
		f.drop()
	}
}

// expire drops tombstones older than ttl.
func (f *fence) expire(now time.Time) {
	cutoff := now.Add(-f.ttl)
	for f.head < len(f.queue) && f.queue[f.head].at.Before(cutoff) {
		f.drop()
	}
	// Compact once half the backing array is dead, so memory follows the
	// live tombstones and appends stay amortised O(1).
	if f.head > 0 && f.head >= len(f.queue)/2 {
		f.queue = append(f.queue[:0], f.queue[f.head:]...)
		f.head = 0
	}
}

// drop removes the oldest tombstone and raises the floor past it.
func (f *fence) drop() {
	t := f.queue[f.head]
	f.queue[f.head] = tombstone{}
	f.head++
	m := f.keys
	if t.tag {
		m = f.tags
	}
	// A newer tombstone for the same name supersedes this one and stays.
	if m[t.name] == t.seq {
		delete(m, t.name)
		f.dropped = max(f.dropped, t.seq)
	}
}

// dropAll invalidates everything made before it, like a tombstone on every
// key and tag: the floor rises to a new sequence. Tombstones stay (they
// are below the floor now, harmless) and expire as usual.
func (f *fence) dropAll() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	seq := f.seq.Add(1)
	f.dropped = seq
	f.last.Store(seq)
	return seq
}

// size returns the number of live tombstones (tests and Stats).
func (f *fence) size() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return len(f.keys) + len(f.tags)
}
