package ratelimit

import (
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/cpu"
	"golang.org/x/time/rate"
)

const (
	// maxShards spreads lock contention and the sweeper's pauses; more would
	// only cost memory on the small machines the gateway runs on.
	maxShards = 64
	// minShardKeys keeps the per-shard bound meaningful for small MaxKeys:
	// with one key per shard, uneven hashing would evict far below MaxKeys.
	minShardKeys = 64
	// evictSample is how many entries are compared when a full shard has no
	// idle entry: the least recently seen of a few random ones is almost never
	// a hot key, which random eviction alone would often hit.
	evictSample = 5
)

// entry is one key's bucket. It is found under the shard's read lock, and
// then used without it: the bucket has its own mutex and the rest is atomic.
type entry struct {
	lastSeen atomic.Int64           // unix nanos of the last check, for idle eviction
	limits   atomic.Pointer[limits] // what bucket is set to; changes with the tier
	bucket   rate.Limiter           // by value: one allocation per key, not two
}

// newEntry returns a full bucket. rate.NewLimiter would return a pointer and
// copying its value copies a mutex, so the zero Limiter is set up instead:
// with its last update at the zero time, the first check sees centuries
// elapsed and fills the bucket to burst, exactly as NewLimiter does.
func newEntry(l *limits, now int64) *entry {
	e := &entry{}
	e.bucket.SetLimitAt(time.Time{}, l.rate)
	e.bucket.SetBurstAt(time.Time{}, l.burst)
	e.limits.Store(l)
	e.lastSeen.Store(now)
	return e
}

// store holds one route's buckets. The MaxKeys bound is kept per shard
// (MaxKeys/shards each), which makes it hard and O(1) to enforce without
// cross-shard locking; the price is that eviction may start slightly before
// MaxKeys keys in total when keys hash unevenly.
type store struct {
	shards  []shard
	mask    uint64
	seed    maphash.Seed
	idleTTL int64 // nanos
}

type shard struct {
	mu sync.RWMutex
	m  map[string]*entry
	// noIdleUntil (unix nanos, under mu) is the earliest time an entry can be
	// idle. Until then scanning for idle entries is pointless, so a flood of
	// new keys into a full shard costs O(1) per insert, not a scan each.
	noIdleUntil int64
	max         int

	live      atomic.Int64
	evictions atomic.Uint64
	allowed   atomic.Uint64
	rejected  atomic.Uint64

	// Keeps neighbouring shards' locks and counters on separate cache lines.
	_ cpu.CacheLinePad
}

func newStore(maxKeys int, idleTTL time.Duration) *store {
	n := 1
	for n < maxShards && maxKeys/(2*n) >= minShardKeys {
		n *= 2
	}
	s := &store{
		shards:  make([]shard, n),
		mask:    uint64(n - 1),
		seed:    maphash.MakeSeed(),
		idleTTL: int64(idleTTL),
	}
	for i := range s.shards {
		s.shards[i].m = make(map[string]*entry)
		s.shards[i].max = maxKeys / n
		s.shards[i].noIdleUntil = math.MaxInt64
	}
	return s
}

func (s *store) shard(key []byte) *shard {
	if s.mask == 0 {
		return &s.shards[0]
	}
	return &s.shards[maphash.Bytes(s.seed, key)&s.mask]
}

// get returns the key's entry, or nil. m[string(key)] does not allocate.
func (sh *shard) get(key []byte) *entry {
	sh.mu.RLock()
	e := sh.m[string(key)]
	sh.mu.RUnlock()
	return e
}

// insert returns the key's entry, creating it if another goroutine has not
// done so since get; this is the only place a key is copied.
func (sh *shard) insert(key []byte, l *limits, now, idleTTL int64) *entry {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e := sh.m[string(key)]; e != nil {
		return e
	}
	if len(sh.m) >= sh.max {
		sh.makeRoom(now, idleTTL)
	}
	e := newEntry(l, now)
	sh.m[string(key)] = e
	sh.live.Add(1)
	sh.noIdleUntil = min(sh.noIdleUntil, now+idleTTL)
	return e
}

// retier points e's bucket at new limits, keeping its current tokens: a
// client upgrading its plan gets the new rate, not a free refill. The shard
// lock makes concurrent changes agree with the pointer stored last.
func (sh *shard) retier(e *entry, l *limits, now time.Time) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e.limits.Load() == l {
		return
	}
	e.bucket.SetLimitAt(now, l.rate)
	e.bucket.SetBurstAt(now, l.burst)
	e.limits.Store(l)
}

// makeRoom evicts idle entries and then, if the shard is still full, the
// least recently seen of a small random sample. Called with mu held.
func (sh *shard) makeRoom(now, idleTTL int64) {
	if now >= sh.noIdleUntil {
		sh.evictIdle(now, idleTTL)
	}
	for len(sh.m) >= sh.max {
		sh.evictOldestSampled()
	}
}

// evictIdle removes entries unused for idleTTL and records when the oldest
// survivor can become idle. Called with mu held.
func (sh *shard) evictIdle(now, idleTTL int64) {
	oldest := int64(math.MaxInt64)
	for k, e := range sh.m {
		seen := e.lastSeen.Load()
		if now-seen >= idleTTL {
			sh.remove(k)
			continue
		}
		oldest = min(oldest, seen)
	}
	sh.noIdleUntil = math.MaxInt64
	if oldest != math.MaxInt64 {
		sh.noIdleUntil = oldest + idleTTL
	}
}

// evictOldestSampled relies on map iteration starting at a random place.
// Called with mu held.
func (sh *shard) evictOldestSampled() {
	var victim string
	oldest := int64(math.MaxInt64)
	n := 0
	for k, e := range sh.m {
		if seen := e.lastSeen.Load(); seen <= oldest {
			victim, oldest = k, seen
		}
		if n++; n == evictSample {
			break
		}
	}
	sh.remove(victim)
}

func (sh *shard) remove(k string) {
	delete(sh.m, k)
	sh.live.Add(-1)
	sh.evictions.Add(1)
}

// sweep evicts idle entries from every shard that may have some.
func (s *store) sweep(now int64) {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		if now >= sh.noIdleUntil {
			sh.evictIdle(now, s.idleTTL)
		}
		sh.mu.Unlock()
	}
}
