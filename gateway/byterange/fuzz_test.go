package byterange

import (
	"cmp"
	"math/big"
	"slices"
	"strings"
	"testing"
)

// FuzzParse checks Parse against reference, a literal reading of RFC 9110
// §14.1 with strings.Split and math/big: the same outcome; the ranges lie
// inside the representation and cover exactly the bytes the satisfiable
// specs select; the order asked is kept unless something overlapped; a
// satisfiable set is never a 416.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"bytes=0-499", "bytes=-500", "bytes=9500-", "bytes=0-0,-1", "bytes=500-600,601-999", "bytes=500-700,601-999",
		"BYTES=1-2, 4-5 ,,", "bytes=5-1", "items=0-1", "bytes=-0", "bytes=99999999999999999999-", "bytes=0-,5-0,5-1",
	} {
		f.Add(s, uint32(10000))
		f.Add(s, uint32(0))
	}
	f.Fuzz(func(t *testing.T, value string, size32 uint32) {
		size := int(size32)
		rs, out := Parse(nil, []byte(value), size)
		spans, want, satisfiable := reference(value, size)
		if out != want {
			t.Fatalf("Parse(%q, %d) = %v, the reference says %v", value, size, out, want)
		}
		if satisfiable && out == Unsatisfiable {
			t.Fatalf("Parse(%q, %d): a satisfiable set answered 416", value, size)
		}
		if out != Partial {
			if len(rs) != 0 {
				t.Fatalf("Parse(%q, %d) = %v with ranges %v", value, size, out, rs)
			}
			return
		}
		for _, r := range rs {
			if r.First < 0 || r.First > r.Last || r.Last >= size {
				t.Fatalf("Parse(%q, %d): %v lies outside the representation", value, size, r)
			}
		}
		if !slices.Equal(union(rs), union(spans)) {
			t.Fatalf("Parse(%q, %d) = %v, covering other bytes than %v", value, size, rs, spans)
		}
		if len(union(spans)) == len(spans) && !slices.Equal(rs, spans) {
			t.Fatalf("Parse(%q, %d) = %v: nothing overlapped, yet not %v", value, size, rs, spans)
		}
	})
}

// reference parses by the letter of §14.1.1-§14.1.2 (and the package's
// MaxRanges), slowly. satisfiable is §14.1.1's: some range-spec selects a
// byte, or is a non-zero suffix of an empty representation.
func reference(value string, size int) (spans []Range, out Outcome, satisfiable bool) {
	unit, set, ok := strings.Cut(strings.Trim(value, " \t"), "=")
	if !ok || len(unit) != len("bytes") || asciiLower(unit) != "bytes" {
		return nil, Full, false
	}
	elems := strings.Split(set, ",")
	if len(elems) > MaxRanges {
		return nil, Full, false
	}
	n := big.NewInt(int64(size))
	specs := 0
	for _, e := range elems {
		if e = strings.Trim(e, " \t"); e == "" {
			continue
		}
		specs++
		firstS, lastS, ok := strings.Cut(e, "-")
		first, okFirst := digits(firstS)
		last, okLast := digits(lastS)
		switch {
		case !ok || (firstS != "" && !okFirst) || (lastS != "" && !okLast) || (firstS == "" && lastS == ""):
			return nil, Full, false
		case firstS == "": // suffix
			if last.Sign() > 0 {
				satisfiable = true
				if size > 0 {
					spans = append(spans, Range{size - int(minBig(last, n).Int64()), size - 1})
				}
			}
		case lastS != "" && last.Cmp(first) < 0:
			return nil, Full, false
		case first.Cmp(n) < 0:
			satisfiable = true
			l := size - 1
			if lastS != "" && last.Cmp(n) < 0 {
				l = int(last.Int64())
			}
			spans = append(spans, Range{int(first.Int64()), l})
		}
	}
	switch {
	case specs == 0:
		return nil, Full, false
	case len(spans) > 0:
		return spans, Partial, true
	case satisfiable:
		return nil, Full, true
	}
	return nil, Unsatisfiable, false
}

func digits(s string) (*big.Int, bool) {
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return new(big.Int), false
	}
	n, ok := new(big.Int).SetString(s, 10)
	return n, ok
}

func minBig(a, b *big.Int) *big.Int {
	if a.Cmp(b) < 0 {
		return a
	}
	return b
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// union is the sorted, merged cover of rs (touching ranges merged).
func union(rs []Range) []Range {
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b Range) int { return cmp.Compare(a.First, b.First) })
	var out []Range
	for _, r := range s {
		if len(out) > 0 && r.First <= out[len(out)-1].Last+1 {
			out[len(out)-1].Last = max(out[len(out)-1].Last, r.Last)
			continue
		}
		out = append(out, r)
	}
	return out
}
