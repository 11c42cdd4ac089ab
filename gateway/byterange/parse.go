package byterange

import (
	"cmp"
	"math"
	"slices"
)

// MaxRanges bounds the list elements (range-specs and empty ones) of a
// Range field: a longer list is ignored, not answered. A client that wants
// more than a hundred pieces of one object is better served by the whole.
const MaxRanges = 100

// Range is a satisfiable byte range resolved against a representation:
// First and Last are inclusive offsets, 0 <= First <= Last < size.
type Range struct{ First, Last int }

// Len is the number of bytes r selects.
func (r Range) Len() int { return r.Last - r.First + 1 }

// Outcome is what a Range field asks of the response.
type Outcome uint8

const (
	// Full: ignore the Range field and send the whole representation.
	Full Outcome = iota
	// Partial: send the selected ranges in a 206.
	Partial
	// Unsatisfiable: no range-spec selects a byte; send a 416.
	Unsatisfiable
)

// Parse reads a Range field value (RFC 9110 §14.1.1) and resolves it
// against a representation of size bytes (§14.1.2): a last-pos beyond the
// end is clipped to it, a suffix longer than the representation is the
// whole. It appends the satisfiable ranges to dst, in the order asked,
// unless two of them overlap or touch: then all are sorted and merged.
//
// Full means the field is to be ignored (see the package doc); dst is then
// returned unchanged. With a dst of spare capacity a single range
// allocates nothing.
func Parse(dst []Range, value []byte, size int) ([]Range, Outcome) {
	set, ok := cutUnit(trimOWS(value))
	if !ok {
		return dst, Full
	}
	start := len(dst)
	specs, emptySuffix := 0, false
	for elems := 0; ; elems++ {
		if elems == MaxRanges {
			return dst[:start], Full
		}
		elem, rest, more := cutComma(set)
		if elem = trimOWS(elem); len(elem) > 0 {
			s, ok := parseSpec(elem)
			if !ok {
				return dst[:start], Full
			}
			specs++
			if r, ok := s.resolve(size); ok {
				dst = append(dst, r)
			} else if s.suffix && s.last > 0 {
				emptySuffix = true // satisfiable, but size is 0 (§14.1.2)
			}
		}
		if !more {
			break
		}
		set = rest
	}
	switch {
	case specs == 0: // range-set = 1#range-spec: empty elements alone are invalid
		return dst[:start], Full
	case len(dst) > start:
		merged := coalesce(dst[start:])
		return dst[:start+len(merged)], Partial
	case emptySuffix:
		return dst[:start], Full
	}
	return dst[:start], Unsatisfiable
}

// cutUnit checks the range-unit is bytes (case-insensitive, §14.1) and
// returns the range-set after '='.
func cutUnit(v []byte) ([]byte, bool) {
	const unit = "bytes"
	if len(v) <= len(unit) || v[len(unit)] != '=' {
		return nil, false
	}
	for i := range len(unit) {
		if v[i]|0x20 != unit[i] { // |0x20 lower-cases exactly these letters
			return nil, false
		}
	}
	return v[len(unit)+1:], true
}

// cutComma splits off the first list element; more reports a comma.
func cutComma(b []byte) (elem, rest []byte, more bool) {
	for i, c := range b {
		if c == ',' {
			return b[:i], b[i+1:], true
		}
	}
	return b, nil, false
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// spec is one range-spec: first-last, first- (open) or -last (suffix).
// Values past math.MaxInt saturate: no representation is that long, so a
// saturated first-pos is as unsatisfiable and a saturated last-pos or
// suffix-length as clipped as the true value.
type spec struct {
	first, last  int
	open, suffix bool
}

// parseSpec reads an int-range or a suffix-range; anything else (other-range
// included, which bytes does not define) is invalid.
func parseSpec(b []byte) (spec, bool) {
	dash := -1
	for i, c := range b {
		if c == '-' {
			dash = i
			break
		}
	}
	if dash < 0 {
		return spec{}, false
	}
	firstDigits, lastDigits := b[:dash], b[dash+1:]
	last, ok := parseDigits(lastDigits)
	if dash == 0 { // suffix-range = "-" 1*DIGIT
		return spec{last: last, suffix: true}, ok && len(lastDigits) > 0
	}
	first, okFirst := parseDigits(firstDigits)
	if !okFirst || !ok {
		return spec{}, false
	}
	if len(lastDigits) == 0 {
		return spec{first: first, open: true}, true
	}
	// "An int-range is invalid if the last-pos value is present and less
	// than the first-pos" (§14.1.1): compared on the digits, exact even
	// where the values saturate.
	return spec{first: first, last: last}, !digitsLess(lastDigits, firstDigits)
}

// parseDigits reads 1*DIGIT (or nothing, as 0), saturating at math.MaxInt.
func parseDigits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int(c - '0')
		if n > (math.MaxInt-d)/10 {
			n = math.MaxInt
			continue
		}
		n = n*10 + d
	}
	return n, true
}

// digitsLess compares two digit strings as numbers of any length.
func digitsLess(a, b []byte) bool {
	a, b = trimZeros(a), trimZeros(b)
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

func trimZeros(b []byte) []byte {
	for len(b) > 0 && b[0] == '0' {
		b = b[1:]
	}
	return b
}

// resolve applies §14.1.2 to one spec; false is unsatisfiable (or, for a
// non-zero suffix on an empty representation, nothing to select).
func (s spec) resolve(size int) (Range, bool) {
	if s.suffix {
		if s.last == 0 || size == 0 {
			return Range{}, false
		}
		return Range{First: size - min(s.last, size), Last: size - 1}, true
	}
	if s.first >= size {
		return Range{}, false
	}
	if s.open {
		return Range{First: s.first, Last: size - 1}, true
	}
	return Range{First: s.first, Last: min(s.last, size-1)}, true
}

// coalesce merges rs in place when any two overlap or touch (§15.3.7.2),
// which leaves them sorted; otherwise it keeps the order asked. At most
// MaxRanges ranges: the pairwise check costs less than sorting every time.
func coalesce(rs []Range) []Range {
	if !overlapping(rs) {
		return rs
	}
	slices.SortFunc(rs, func(a, b Range) int { return cmp.Compare(a.First, b.First) })
	out := rs[:1]
	for _, r := range rs[1:] {
		if last := &out[len(out)-1]; r.First <= last.Last+1 {
			last.Last = max(last.Last, r.Last)
			continue
		}
		out = append(out, r)
	}
	return out
}

// overlapping reports two ranges that share a byte or are adjacent. Last+1
// cannot overflow: Last < size.
func overlapping(rs []Range) bool {
	for i := range rs {
		for j := i + 1; j < len(rs); j++ {
			if rs[i].First <= rs[j].Last+1 && rs[j].First <= rs[i].Last+1 {
				return true
			}
		}
	}
	return false
}
