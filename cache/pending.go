package cache

import (
	"time"
)

// Pending L2 invalidations. An invalidation's local tombstones take effect
// at once; its L2 part (the generation bumps) may land later: its caller's
// deadline may end first (a write's budget), or Redis may be slow or down.
// Until the bump is confirmed, an L2 entry of an invalidated key or tag
// and the generations read with it may predate the invalidation, and a
// tombstone cannot tell: an L2 read that starts after it takes a newer
// sequence. So the invalidation also marks its keys and tags "L2 pending",
// and this process uses no L2 entry (nor writes a fill to L2) whose key or
// a tag is marked, until the bump is confirmed (confirm) or the mark is
// TombstoneTTL old: by then every L2 entry filled before the invalidation
// has expired (fence.go). A bump that never lands thus costs this process
// its L2 hits on those keys and tags, never a value older than the
// invalidation; while Redis is down the breaker skips L2 anyway.
//
// Marks are bounded like tombstones (MaxTombstones live ones): dropping a
// live mark early makes every L2 entry count as pending until that mark
// would have expired. Being wrong that way costs misses.

type pendingMarks struct {
	keys, tags map[string]pendingMark
	queue      []pendingName // by age, oldest first; confirmed ones are dropped lazily
	head       int
	// allUntil: every key and tag counts as pending until then (a live
	// mark was dropped early).
	allUntil time.Time
}

// pendingMark is the latest pending invalidation of one key or tag.
type pendingMark struct {
	seq uint64
	at  time.Time
}

type pendingName struct {
	name string
	tag  bool
	pendingMark
}

// invalidatePending is invalidate for an invalidation whose L2 part is
// still to come: its keys and tags are also marked pending until confirm.
func (f *fence) invalidatePending(now time.Time, keys [][]byte, tags []string) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	// Set before the sequence is taken: an L2 read that takes a later one
	// sees it, then waits for mu and finds the marks.
	f.anyPending.Store(true)
	seq := f.invalidateLocked(now, keys, tags)
	p := &f.pend
	p.expire(now, f.ttl)
	m := pendingMark{seq: seq, at: now}
	for _, k := range keys {
		p.add(pendingName{name: string(k), pendingMark: m}, f.max, f.ttl)
	}
	for _, t := range tags {
		p.add(pendingName{name: t, tag: true, pendingMark: m}, f.max, f.ttl)
	}
	return seq
}

// confirm records that the L2 part of the invalidation seq is in effect.
// Its keys and tags get new tombstones first: an L2 read that started
// after the marks but before the bump read the old generations, and must
// not be served once the marks are gone. Then the marks of seq, or of an
// earlier invalidation (this bump covers it too: it landed after that
// invalidation's write), go; a later pending one stays.
func (f *fence) confirm(now time.Time, keys [][]byte, tags []string, seq uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.invalidateLocked(now, keys, tags)
	p := &f.pend
	for _, k := range keys {
		if m, ok := p.keys[string(k)]; ok && m.seq <= seq {
			delete(p.keys, string(k))
		}
	}
	for _, t := range tags {
		if m, ok := p.tags[t]; ok && m.seq <= seq {
			delete(p.tags, t)
		}
	}
	p.expire(now, f.ttl)
	f.anyPending.Store(p.live(now))
}

// l2Pending reports whether an L2 entry of key with tags may predate an
// invalidation applied here whose L2 part is not confirmed. With nothing
// pending it costs one atomic load and allocates nothing.
func (c *Tiered) l2Pending(key []byte, tags []string) bool {
	if !c.fence.anyPending.Load() {
		return false
	}
	return c.fence.pendingSlow(c.clock(time.Now()), key, tags)
}

func (f *fence) pendingSlow(now time.Time, key []byte, tags []string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	p := &f.pend
	if now.Before(p.allUntil) {
		return true
	}
	cutoff := now.Add(-f.ttl)
	if m, ok := p.keys[string(key)]; ok && m.at.After(cutoff) {
		return true
	}
	for _, t := range tags {
		if m, ok := p.tags[t]; ok && m.at.After(cutoff) {
			return true
		}
	}
	return false
}

// pendingSize returns the number of live marks (Stats).
func (f *fence) pendingSize() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return len(f.pend.keys) + len(f.pend.tags)
}

func (p *pendingMarks) of(tag bool) map[string]pendingMark {
	if tag {
		return p.tags
	}
	return p.keys
}

// current reports whether n is still the live mark of its name.
func (p *pendingMarks) current(n pendingName) bool {
	m, ok := p.of(n.tag)[n.name]
	return ok && m.seq == n.seq
}

func (p *pendingMarks) add(n pendingName, max int, ttl time.Duration) {
	p.of(n.tag)[n.name] = n.pendingMark
	p.queue = append(p.queue, n)
	if len(p.keys)+len(p.tags) > max {
		// Drop the oldest live mark (not n: max >= 1), and count every L2
		// entry as pending for as long as that mark would have lived.
		for p.head < len(p.queue) {
			old := p.queue[p.head]
			p.pop()
			if p.current(old) {
				delete(p.of(old.tag), old.name)
				p.allUntil = maxTime(p.allUntil, old.at.Add(ttl))
				break
			}
		}
	}
	// Confirmed marks leave dead queue entries behind: compact once they
	// outnumber the live ones, so the queue follows the live marks.
	if n := len(p.queue) - p.head; n > 64 && n > 2*(len(p.keys)+len(p.tags)) {
		q := p.queue[:0]
		for _, e := range p.queue[p.head:] {
			if p.current(e) {
				q = append(q, e)
			}
		}
		clear(p.queue[len(q):])
		p.queue, p.head = q, 0
	}
}

func (p *pendingMarks) pop() {
	p.queue[p.head] = pendingName{}
	p.head++
}

// expire drops marks older than ttl, and dead entries at the queue's head.
func (p *pendingMarks) expire(now time.Time, ttl time.Duration) {
	cutoff := now.Add(-ttl)
	for p.head < len(p.queue) {
		e := p.queue[p.head]
		live := p.current(e)
		if live && !e.at.Before(cutoff) {
			break
		}
		if live {
			delete(p.of(e.tag), e.name)
		}
		p.pop()
	}
	if p.head > 0 && p.head >= len(p.queue)/2 {
		p.queue = append(p.queue[:0], p.queue[p.head:]...)
		p.head = 0
	}
}

// live reports whether any mark may still count.
func (p *pendingMarks) live(now time.Time) bool {
	return len(p.keys)+len(p.tags) > 0 || now.Before(p.allUntil)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
