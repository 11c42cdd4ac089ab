package cache

import (
	"fmt"
	"math"
	"sync/atomic"
	"time"
)

// Entry is one cached value and the windows in which it may be served (and,
// in the keep window, only revalidated).
//
// Entries handed out by the cache are shared by every reader and must be
// treated as read-only. An Entry returned by a FillFunc becomes the cache's:
// the fill must not touch it afterwards.
//
// Negative caching is the caller's decision: to remember that something does
// not exist (an origin 404, an unknown feature row), return an Entry with
// Negative set and short windows. The cache treats it like any other entry;
// the flag travels through both tiers so that the reader can tell "known to be
// absent" from a value without decoding Value.
type Entry struct {
	// Key is the full cache key. The cache sets it from Request.Key and
	// compares it on every L1 read: the in-process tier indexes entries by a
	// 64-bit hash, and a hash collision must never serve another key's (or
	// another tenant's) entry.
	Key []byte

	// Value is opaque to the cache (an encoded HTTP response, feature values,
	// a prediction).
	Value []byte

	// StoredAt is when the value was produced (zero: set to the fill's now).
	StoredAt time.Time

	// FreshUntil ends the window in which the entry is served as is.
	FreshUntil time.Time

	// StaleUntil ends the stale-while-revalidate window: until then a stale
	// entry is served while one background refresh runs. Zero: no window.
	StaleUntil time.Time

	// ErrorUntil ends the stale-if-error window: until then an expired entry
	// is served when its fill fails or times out. Zero: no window.
	ErrorUntil time.Time

	// KeepUntil ends the keep window: until then the entry is kept in both
	// tiers but never served, only handed to a fill as the base of a
	// revalidation (RFC 9111 §4.3: a conditional request built from its
	// validators, and on 304 its body kept). A response that must be
	// revalidated before every reuse (no-cache, RFC 9111 §5.2.2.4) is stored
	// with no fresh window and a keep window. Zero: no window.
	KeepUntil time.Time

	// Version is opaque to the cache (an origin ETag hash, a model version),
	// kept so the caller can compare values across refreshes.
	Version uint64

	// Tags are the surrogate keys the entry is invalidated by. The cache sets
	// them from Request.Tags: their generations must be read before the fill
	// starts (see fence.go), so tags only known after the fill cannot fence it.
	Tags []string

	// Negative marks a cached absence (see the type comment).
	Negative bool

	// Revalidated is set by a FillFunc on the entry it returns when that
	// entry is old's body confirmed by the origin (a 304 to a conditional
	// request), so that Fetch reports OutcomeRevalidated rather than
	// OutcomeMiss. Set without an old entry, it fails the fill with
	// ErrInvalidEntry. It describes the fill that produced the entry, not
	// the value: it is not encoded, so the entry's L2 copy reads it as false.
	Revalidated bool

	// seq is the process-local fence sequence taken before the fill (or the
	// L2 read) that produced this L1 entry; never encoded.
	seq uint64

	// l1Until ends the entry's life in L1 (l1.set): its last window, and at
	// most TombstoneTTL after its fill started (see fence.go). Unix
	// nanoseconds rather than a time.Time: 16 bytes less keeps an Entry in
	// the 288-byte size class, for every entry resident in L1.
	l1Until int64

	// checked is the last invalidation sequence this L1 entry was found
	// valid against (fence.validEntry); accessed atomically.
	checked uint64

	// keyGen and tagGens are the L2 generations of Key and Tags read before
	// the fill started; encoded, compared with the current ones on L2 reads.
	keyGen  uint64
	tagGens []uint64

	// local is what a reader derived from Value once, kept for the entry's
	// later readers in this process (Local, SetLocal); never encoded.
	local atomic.Value
}

// Local returns what SetLocal kept with the entry, or nil.
func (e *Entry) Local() any { return e.local.Load() }

// SetLocal keeps v with the entry for later readers in this process: a
// form of Value derived once (the gateway keeps the stored response's
// parsed header), so that every hit does not derive it again. v must be
// read-only from then on, and always of one concrete type. Racing setters
// are fine: any of their values is kept.
func (e *Entry) SetLocal(v any) { e.local.Store(v) }

// Freshness is the state of an entry at a given time. Only Fresh, Stale and
// Expired entries are ever served, each as its comment says; Gone and Kept
// never are.
type Freshness uint8

const (
	// Gone: past every window, or invalidated. Must not be served.
	Gone Freshness = iota
	// Fresh: serve as is.
	Fresh
	// Stale: inside the stale-while-revalidate window; serve and refresh in
	// the background.
	Stale
	// Expired: past the stale window but inside the stale-if-error window;
	// serve only when a fill fails or times out.
	Expired
	// Kept: past the stale-if-error window but inside the keep window. Must
	// not be served, not even when a fill fails: it is only the base a fill
	// may revalidate (see FillFunc).
	Kept
)

var freshnessNames = [...]string{Gone: "gone", Fresh: "fresh", Stale: "stale", Expired: "expired", Kept: "kept"}

func (f Freshness) String() string {
	if int(f) < len(freshnessNames) {
		return freshnessNames[f]
	}
	return fmt.Sprintf("Freshness(%d)", uint8(f))
}

// Servable reports whether an entry in state f may be served at all (as a
// hit, a stale answer or a stale-if-error fallback): Gone and Kept never are.
func (f Freshness) Servable() bool { return f == Fresh || f == Stale || f == Expired }

// Freshness reports the entry's state at now. It does not know about
// invalidations: Tiered.Get and Tiered.Fetch check those too.
func (e *Entry) Freshness(now time.Time) Freshness {
	switch {
	case !now.After(e.FreshUntil):
		return Fresh
	case !now.After(e.StaleUntil):
		return Stale
	case !now.After(e.ErrorUntil):
		return Expired
	case !now.After(e.KeepUntil):
		return Kept
	}
	return Gone
}

// Bounds of time.Time.UnixNano, the codec's representation.
var (
	minEntryTime = time.Unix(0, math.MinInt64)
	maxEntryTime = time.Unix(0, math.MaxInt64)
)

// normalize makes a filled entry's windows ordered (StoredAt <= FreshUntil
// <= StaleUntil <= ErrorUntil <= KeepUntil), which both tiers rely on:
// KeepUntil is then the end of the entry's life. A stale window shorter than
// the error window loses nothing, since a stale entry is served anyway; a
// keep window shorter than the error window, likewise, since an expired
// entry is a revalidation base too. Monotonic clock readings are dropped so
// that L1 and decoded L2 entries compare alike.
func (e *Entry) normalize(now time.Time) error {
	if e.StoredAt.IsZero() {
		e.StoredAt = now
	}
	e.StoredAt = e.StoredAt.Round(0)
	e.FreshUntil = later(e.FreshUntil.Round(0), e.StoredAt)
	e.StaleUntil = later(e.StaleUntil.Round(0), e.FreshUntil)
	e.ErrorUntil = later(e.ErrorUntil.Round(0), e.StaleUntil)
	e.KeepUntil = later(e.KeepUntil.Round(0), e.ErrorUntil)
	if e.StoredAt.Before(minEntryTime) || e.KeepUntil.After(maxEntryTime) {
		return fmt.Errorf("%w: times outside years 1678-2262", ErrInvalidEntry)
	}
	return nil
}

func later(a, b time.Time) time.Time {
	if a.Before(b) {
		return b
	}
	return a
}
