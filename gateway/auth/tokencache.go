package auth

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// tokenCache maps verified tokens to their Principal. It is sharded so that
// cores verifying different tokens do not share a lock, and every shard is
// bounded. Only successfully verified tokens go in, so garbage cannot evict
// good entries.
type tokenCache struct {
	seed   maphash.Seed
	mask   uint64
	shards []cacheShard
}

type cacheShard struct {
	mu sync.RWMutex
	// m is keyed by the token's hash, the one that also picked the shard:
	// keyed by the token string, every lookup hashed the token twice. The
	// entry holds the token, compared in full: two tokens with one hash
	// share a slot, and the later one only costs the earlier a
	// verification.
	m   map[uint64]cacheEntry
	max int

	hits   atomic.Uint64
	misses atomic.Uint64

	// Keeps neighbouring shards' locks and counters off one cache line.
	_ [64]byte
}

type cacheEntry struct {
	token string
	p     *Principal
	// k is the key that verified the token: once it is revoked, the entry
	// is worthless (see revoke.go).
	k *key
	// expires is min(token exp, verification time + CacheTTL, the staleAt
	// of k's JWKS set) in Unix ns.
	expires int64
}

const (
	maxShards = 64
	// minShardEntries keeps small caches in few shards, so that a tiny
	// CacheEntries is not rounded down to one entry per shard.
	minShardEntries = 64
)

func newTokenCache(entries int) *tokenCache {
	n := maxShards
	for n > 1 && entries/n < minShardEntries {
		n /= 2
	}
	per := max(entries/n, 1)
	c := &tokenCache{seed: maphash.MakeSeed(), mask: uint64(n - 1), shards: make([]cacheShard, n)}
	for i := range c.shards {
		c.shards[i].m = make(map[uint64]cacheEntry)
		c.shards[i].max = per
	}
	return c
}

// get returns the cached Principal for token, or nil if it is absent, its
// entry expired at now (Unix ns) or its key was revoked. It does not
// allocate.
func (c *tokenCache) get(token []byte, now int64) *Principal {
	h := maphash.Bytes(c.seed, token)
	sh := &c.shards[h&c.mask]
	sh.mu.RLock()
	e, ok := sh.m[h]
	sh.mu.RUnlock()
	if ok && now < e.expires && e.token == string(token) && !e.k.revoked.Load() {
		sh.hits.Add(1)
		return e.p
	}
	sh.misses.Add(1)
	return nil
}

// put caches p, verified with k, until expires or k's revocation. token
// must be a string the cache may keep, never a view of the caller's buffer.
func (c *tokenCache) put(token string, p *Principal, k *key, expires, now int64) {
	if expires <= now {
		return
	}
	h := maphash.String(c.seed, token)
	sh := &c.shards[h&c.mask]
	sh.mu.Lock()
	if _, ok := sh.m[h]; !ok && len(sh.m) >= sh.max {
		sh.evict(now)
	}
	sh.m[h] = cacheEntry{token: token, p: p, k: k, expires: expires}
	sh.mu.Unlock()
}

// evict drops expired entries and then, if the shard is still nearly full,
// arbitrary ones down to 15/16 of its bound: the sweep is O(shard), and
// freeing a batch keeps it from running again on the very next insert.
func (sh *cacheShard) evict(now int64) {
	for k, e := range sh.m {
		if e.expires <= now {
			delete(sh.m, k)
		}
	}
	target := sh.max - max(sh.max/16, 1)
	for k := range sh.m {
		if len(sh.m) <= target {
			break
		}
		delete(sh.m, k)
	}
}

func (c *tokenCache) stats() (hits, misses uint64, entries int) {
	for i := range c.shards {
		sh := &c.shards[i]
		hits += sh.hits.Load()
		misses += sh.misses.Load()
		sh.mu.RLock()
		entries += len(sh.m)
		sh.mu.RUnlock()
	}
	return hits, misses, entries
}
