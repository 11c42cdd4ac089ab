package cache

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"time"
)

// The one binary format of an entry, used for L1 sizing and L2 storage.
//
//	version  byte     formatV2 (formatV1 is still read); any other value is a miss, never a misread
//	flags    byte     flagNegative; unknown bits are rejected
//	stored   varint   StoredAt as Unix nanoseconds
//	fresh    uvarint  FreshUntil - StoredAt
//	stale    uvarint  StaleUntil - FreshUntil
//	error    uvarint  ErrorUntil - StaleUntil
//	keep     uvarint  KeepUntil - ErrorUntil (formatV2 only)
//	version  uvarint  Version
//	keyGen   uvarint  L2 generation of Key at fill start
//	key      uvarint length, bytes
//	tags     uvarint count, then per tag: uvarint length, bytes, uvarint generation
//	value    uvarint length, bytes
//
// Windows are deltas because they are ordered (see Entry.normalize) and
// short. Decoding is strict (minimal varints, no trailing bytes), so that an
// entry has exactly one valid encoding per version: Append of a decoded
// formatV2 encoding returns it byte for byte.
//
// formatV1, written by the release before keep windows, lacks the keep
// field and decodes as KeepUntil = ErrorUntil (no keep window): its entries,
// still in Redis during and after an upgrade, are read rather than dropped.
// Append writes formatV2 only, which that release reads as a miss
// (ErrUnknownFormat) and overwrites: during a rolling upgrade the two
// releases refill each other's entries, they never misread them.
const (
	formatV1 byte = 1
	formatV2 byte = 2
)

const (
	flagNegative byte = 1 << iota

	knownFlags = flagNegative
)

// Size returns the length of the entry's encoding, which is also its L1 cost.
func (e *Entry) Size() int {
	stored, fresh, stale, errw, keep := e.windows()
	n := 2 + varintLen(stored) + uvarintLen(fresh) + uvarintLen(stale) + uvarintLen(errw) + uvarintLen(keep) +
		uvarintLen(e.Version) + uvarintLen(e.keyGen) +
		bytesLen(len(e.Key)) + uvarintLen(uint64(len(e.Tags))) + bytesLen(len(e.Value))
	for i, t := range e.Tags {
		n += bytesLen(len(t)) + uvarintLen(e.tagGen(i))
	}
	return n
}

// Append appends the entry's encoding to dst. Windows are clamped to be
// ordered, as Entry.normalize does for every entry the cache stores.
func (e *Entry) Append(dst []byte) []byte {
	stored, fresh, stale, errw, keep := e.windows()
	var flags byte
	if e.Negative {
		flags |= flagNegative
	}
	dst = append(dst, formatV2, flags)
	dst = binary.AppendVarint(dst, stored)
	dst = binary.AppendUvarint(dst, fresh)
	dst = binary.AppendUvarint(dst, stale)
	dst = binary.AppendUvarint(dst, errw)
	dst = binary.AppendUvarint(dst, keep)
	dst = binary.AppendUvarint(dst, e.Version)
	dst = binary.AppendUvarint(dst, e.keyGen)
	dst = appendBytes(dst, e.Key)
	dst = binary.AppendUvarint(dst, uint64(len(e.Tags)))
	for i, t := range e.Tags {
		dst = binary.AppendUvarint(dst, uint64(len(t)))
		dst = append(dst, t...)
		dst = binary.AppendUvarint(dst, e.tagGen(i))
	}
	return appendBytes(dst, e.Value)
}

// decode parses an encoded entry, of the current format or of formatV1
// (then KeepUntil = ErrorUntil). Key and Value alias b, which must not be
// modified afterwards. An unknown format version yields ErrUnknownFormat,
// anything else malformed ErrCorrupt. An entry whose tags and tag
// generations equal tags and gens gets those slices instead of copies: an
// L2 read expects the entry's tags, so a valid entry then costs no tag
// allocation.
func decode(b []byte, tags []string, gens []uint64) (*Entry, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrCorrupt)
	}
	if b[0] != formatV1 && b[0] != formatV2 {
		return nil, fmt.Errorf("%w: version %d", ErrUnknownFormat, b[0])
	}
	if len(b) < 2 || b[1]&^knownFlags != 0 {
		return nil, fmt.Errorf("%w: bad flags", ErrCorrupt)
	}
	e := &Entry{Negative: b[1]&flagNegative != 0}
	r := reader{b: b[2:]}
	stored := r.varint()
	fresh, stale, errw := r.uvarint(), r.uvarint(), r.uvarint()
	var keep uint64
	if b[0] == formatV2 {
		keep = r.uvarint()
	}
	e.Version = r.uvarint()
	e.keyGen = r.uvarint()
	e.Key = r.bytes()
	if n := r.uvarint(); n > 0 {
		// Each tag takes at least two bytes: bound the allocation by the
		// input, so that hostile input cannot ask for gigabytes.
		if n > uint64(len(r.b)/2) {
			return nil, fmt.Errorf("%w: tag count", ErrCorrupt)
		}
		e.Tags, e.tagGens = r.tags(int(n), tags, gens)
	}
	e.Value = r.bytes()
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(r.b))
	}
	if !e.setWindows(stored, fresh, stale, errw, keep) {
		return nil, fmt.Errorf("%w: windows overflow", ErrCorrupt)
	}
	return e, nil
}

// windows returns StoredAt and the clamped window deltas.
func (e *Entry) windows() (stored int64, fresh, stale, errw, keep uint64) {
	stored = e.StoredAt.UnixNano()
	f := max(e.FreshUntil.UnixNano(), stored)
	s := max(e.StaleUntil.UnixNano(), f)
	x := max(e.ErrorUntil.UnixNano(), s)
	k := max(e.KeepUntil.UnixNano(), x)
	return stored, uint64(f - stored), uint64(s - f), uint64(x - s), uint64(k - x)
}

// setWindows is the inverse of windows; false when the sum overflows.
func (e *Entry) setWindows(stored int64, fresh, stale, errw, keep uint64) bool {
	// The modular uint64 difference is exact: the true room is in [0, 2^64).
	room := uint64(math.MaxInt64) - uint64(stored)
	if fresh > room || stale > room-fresh || errw > room-fresh-stale || keep > room-fresh-stale-errw {
		return false
	}
	f := stored + int64(fresh)
	s := f + int64(stale)
	x := s + int64(errw)
	e.StoredAt = time.Unix(0, stored)
	e.FreshUntil = time.Unix(0, f)
	e.StaleUntil = time.Unix(0, s)
	e.ErrorUntil = time.Unix(0, x)
	e.KeepUntil = time.Unix(0, x+int64(keep))
	return true
}

func (e *Entry) tagGen(i int) uint64 {
	if i < len(e.tagGens) {
		return e.tagGens[i]
	}
	return 0
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

func uvarintLen(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }

func varintLen(x int64) int {
	ux := uint64(x) << 1
	if x < 0 {
		ux = ^ux
	}
	return uvarintLen(ux)
}

func bytesLen(n int) int { return uvarintLen(uint64(n)) + n }

// reader consumes a strict encoding; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	// A final zero byte after the first is a padded, non-minimal varint.
	if n <= 0 || (n > 1 && r.b[n-1] == 0) {
		r.err = fmt.Errorf("%w: bad varint", ErrCorrupt)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// tags reads n tags and their generations, returning tags and gens
// themselves when they are equal (see decode).
func (r *reader) tags(n int, tags []string, gens []uint64) ([]string, []uint64) {
	same := n == len(tags) && n == len(gens)
	var outT []string
	var outG []uint64
	if !same {
		outT, outG = make([]string, n), make([]uint64, n)
	}
	for i := range n {
		t, g := r.bytes(), r.uvarint()
		if same && string(t) == tags[i] && g == gens[i] {
			continue
		}
		if same {
			same = false
			outT, outG = make([]string, n), make([]uint64, n)
			copy(outT, tags[:i])
			copy(outG, gens[:i])
		}
		outT[i], outG[i] = string(t), g
	}
	if same {
		return tags, gens
	}
	return outT, outG
}

func (r *reader) varint() int64 {
	ux := r.uvarint()
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = fmt.Errorf("%w: length %d past end", ErrCorrupt, n)
		return nil
	}
	b := r.b[:n:n]
	r.b = r.b[n:]
	return b
}
