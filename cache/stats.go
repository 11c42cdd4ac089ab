package cache

import "sync/atomic"

// Stats is a snapshot of the cache's counters, all monotonic since New.
// Fetch counts each call exactly once in one of L1Hits, L2Hits, Misses,
// Revalidated, StaleServed, StaleErrorServed or Errors; Get counts its
// Fresh results as L1Hits and nothing else.
type Stats struct {
	L1Hits           uint64 // fresh from L1
	L2Hits           uint64 // fresh from L2 (then copied into L1)
	Misses           uint64 // answered by a fill
	Revalidated      uint64 // answered by a fill that revalidated its old entry (a 304: Entry.Revalidated)
	StaleServed      uint64 // stale-while-revalidate answers
	StaleErrorServed uint64 // stale-if-error answers (fill failed or timed out)
	Errors           uint64 // Fetch calls that returned an error

	CoalescedWaits      uint64 // Fetch calls that joined a fill already in flight
	Fills               uint64 // FillFunc calls
	FillErrors          uint64 // FillFunc calls that failed or timed out
	BackgroundRefreshes uint64 // refreshes started for stale entries
	Fenced              uint64 // fill or L2 results dropped because an invalidation overtook them

	Evictions    uint64 // L1 entries evicted for room or TTL (ristretto OnEvict)
	L1Rejections uint64 // L1 sets refused by the admission policy

	L2Reads       uint64 // L2 lookups sent (entry and generations, one round trip)
	L2Errors      uint64 // failed Redis round trips or commands (not timeouts)
	L2Timeouts    uint64 // Redis reads that did not answer within L2Timeout
	L2Skipped     uint64 // L2 reads skipped: breaker open or read queue full
	L2Writes      uint64 // entries written to L2
	L2WriteDrops  uint64 // L2 writes dropped: queue full, breaker open, failure, or generations unknown
	DecodeErrors  uint64 // corrupt L2 entries (treated as misses)
	UnknownFormat uint64 // L2 entries of another format version (treated as misses)

	Invalidations uint64 // keys and tags invalidated locally
	L2Deduped     uint64 // L2 invalidations of a key or tag skipped: another process (or a replay) applied the same event ID
	L1Drops       uint64 // DropL1 calls
	L2Detached    uint64 // invalidations whose L2 part outlived its caller's deadline and went on in the background
	L2PendingMiss uint64 // L2 entries not used: an invalidation of their key or a tag was not confirmed in L2 yet
	Tombstones    uint64 // live local tombstones (a gauge)
	L2Pending     uint64 // keys and tags whose L2 invalidation is not confirmed yet (a gauge)
}

// stats holds the live counters; the fields mirror Stats.
type stats struct {
	l1Hits, l2Hits, misses, staleServed, staleErrorServed, errors    atomic.Uint64
	revalidated                                                      atomic.Uint64
	coalescedWaits, fills, fillErrors, refreshes, fenced             atomic.Uint64
	evictions, l1Rejections                                          atomic.Uint64
	l2Reads, l2Errors, l2Timeouts, l2Skipped, l2Writes, l2WriteDrops atomic.Uint64
	decodeErrors, unknownFormat, invalidations                       atomic.Uint64
	l2Deduped, l1Drops, l2Detached, l2PendingMiss                    atomic.Uint64
}

func (s *stats) snapshot() Stats {
	return Stats{
		L1Hits:              s.l1Hits.Load(),
		L2Hits:              s.l2Hits.Load(),
		Misses:              s.misses.Load(),
		Revalidated:         s.revalidated.Load(),
		StaleServed:         s.staleServed.Load(),
		StaleErrorServed:    s.staleErrorServed.Load(),
		Errors:              s.errors.Load(),
		CoalescedWaits:      s.coalescedWaits.Load(),
		Fills:               s.fills.Load(),
		FillErrors:          s.fillErrors.Load(),
		BackgroundRefreshes: s.refreshes.Load(),
		Fenced:              s.fenced.Load(),
		Evictions:           s.evictions.Load(),
		L1Rejections:        s.l1Rejections.Load(),
		L2Reads:             s.l2Reads.Load(),
		L2Errors:            s.l2Errors.Load(),
		L2Timeouts:          s.l2Timeouts.Load(),
		L2Skipped:           s.l2Skipped.Load(),
		L2Writes:            s.l2Writes.Load(),
		L2WriteDrops:        s.l2WriteDrops.Load(),
		DecodeErrors:        s.decodeErrors.Load(),
		UnknownFormat:       s.unknownFormat.Load(),
		Invalidations:       s.invalidations.Load(),
		L2Deduped:           s.l2Deduped.Load(),
		L1Drops:             s.l1Drops.Load(),
		L2Detached:          s.l2Detached.Load(),
		L2PendingMiss:       s.l2PendingMiss.Load(),
	}
}

func (c *Tiered) count(o Outcome) {
	switch o {
	case OutcomeHitL1:
		c.st.l1Hits.Add(1)
	case OutcomeHitL2:
		c.st.l2Hits.Add(1)
	case OutcomeMiss:
		c.st.misses.Add(1)
	case OutcomeRevalidated:
		c.st.revalidated.Add(1)
	case OutcomeStale:
		c.st.staleServed.Add(1)
	case OutcomeStaleError:
		c.st.staleErrorServed.Add(1)
	}
}
