package byterange

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

// String names an Outcome in failure messages.
func (o Outcome) String() string {
	return [...]string{"Full", "Partial", "Unsatisfiable"}[o]
}

func TestParse(t *testing.T) {
	f := func(value string, size int, want Outcome, ranges ...Range) {
		t.Helper()
		got, out := Parse(nil, []byte(value), size)
		if out != want || !slices.Equal(got, ranges) {
			t.Fatalf("Parse(%q, %d) = %v %v, want %v %v", value, size, out, got, want, ranges)
		}
	}
	// RFC 9110 §14.1.2's examples, for a representation of 10000 bytes.
	f("bytes=0-499", 10000, Partial, Range{0, 499})
	f("bytes=500-999", 10000, Partial, Range{500, 999})
	f("bytes=-500", 10000, Partial, Range{9500, 9999})
	f("bytes=9500-", 10000, Partial, Range{9500, 9999})
	f("bytes=0-0,-1", 10000, Partial, Range{0, 0}, Range{9999, 9999})
	// "Other valid (but not canonical) specifications of the second 500
	// bytes": touching and overlapping ranges, coalesced (§15.3.7.2).
	f("bytes=500-600,601-999", 10000, Partial, Range{500, 999})
	f("bytes=500-700,601-999", 10000, Partial, Range{500, 999})

	// §14.1.2: a last-pos at or past the end is clipped to it; a suffix
	// longer than the representation is all of it.
	f("bytes=0-99999", 10, Partial, Range{0, 9})
	f("bytes=5-10", 10, Partial, Range{5, 9})
	f("bytes=-20", 10, Partial, Range{0, 9})
	f("bytes=0-", 10, Partial, Range{0, 9})
	f("bytes=9-9", 10, Partial, Range{9, 9})

	// §14.1: the range unit is case-insensitive.
	f("BYTES=0-1", 10, Partial, Range{0, 1})
	f("Bytes=0-1", 10, Partial, Range{0, 1})
	// §5.6.1: OWS around the commas of a list, empty elements ignored
	// (§5.6.1.2); the field value's own edges are trimmed (§5.5).
	f("bytes=0-1 , 3-4", 10, Partial, Range{0, 1}, Range{3, 4})
	f("bytes=0-1,\t3-4", 10, Partial, Range{0, 1}, Range{3, 4})
	f("bytes=0-1,,3-4", 10, Partial, Range{0, 1}, Range{3, 4})
	f("bytes=,0-1", 10, Partial, Range{0, 1})
	f("bytes=0-1,", 10, Partial, Range{0, 1})
	f(" bytes=0-1 ", 10, Partial, Range{0, 1})
	f("bytes= 0-1", 10, Partial, Range{0, 1}) // OWS before the first element: lenient

	// §15.3.7.2: parts that neither overlap nor touch keep the order
	// asked; any overlap sorts and merges them all.
	f("bytes=5-6,0-1", 10, Partial, Range{5, 6}, Range{0, 1})
	f("bytes=8-9,0-1,1-2", 10, Partial, Range{0, 2}, Range{8, 9})
	f("bytes=0-1,0-1", 10, Partial, Range{0, 1})
	f("bytes=-3,0-", 10, Partial, Range{0, 9})

	// §14.1.1: unsatisfiable range-specs are dropped; a set with none
	// left is unsatisfiable (416).
	f("bytes=20-30,2-3", 10, Partial, Range{2, 3})
	f("bytes=10-", 10, Unsatisfiable)
	f("bytes=10-20,30-", 10, Unsatisfiable)
	f("bytes=-0", 10, Unsatisfiable) // a suffix-length must be non-zero
	f("bytes=-0,10-", 10, Unsatisfiable)

	// §14.1.2: on a zero-length representation an int-range is never
	// satisfiable; a non-zero suffix-range is, but selects nothing: the
	// Range is ignored.
	f("bytes=0-0", 0, Unsatisfiable)
	f("bytes=0-", 0, Unsatisfiable)
	f("bytes=-0", 0, Unsatisfiable)
	f("bytes=-1", 0, Full)
	f("bytes=0-0,-1", 0, Full)

	// §14.2: an invalid ranges-specifier is ignored (a 200), all of it
	// when any one range-spec is invalid (§14.1.1).
	for _, v := range []string{
		"bytes=5-1", // last-pos < first-pos
		"bytes=a-b", "bytes=1-2-3", "bytes=--1", "bytes=-", "bytes=1", "bytes=0x1-2", "bytes=+1-2",
		"bytes=1 -2", "bytes=1- 2", "bytes =1-2", "bytes=", "bytes=,", "bytes= , ", "bytes", "=1-2", "",
		"bytes=1-2,x", "bytes=1-2;3-4", "bytes=1-2\x00", "bytes=１-2",
		"bytes=0-,5-0,5-1,5-2", // CVE-2011-3192's shape: 5-0 is invalid
	} {
		f(v, 10, Full)
	}
	// §14.2: a unit the server does not understand is ignored.
	for _, v := range []string{"items=0-1", "none=0-1", "byte=0-1", "bytesx=0-1", "bytes\x1d0-1", "byteſ=0-1"} {
		f(v, 10, Full)
	}

	// Numbers past any representation's length must not overflow.
	huge := "99999999999999999999999"
	f("bytes="+huge+"-", 10, Unsatisfiable)
	f("bytes=0-"+huge, 10, Partial, Range{0, 9})
	f("bytes=-"+huge, 10, Partial, Range{0, 9})
	f("bytes="+huge+"-"+huge, 10, Unsatisfiable)
	f("bytes=18446744073709551616-18446744073709551616", 10, Unsatisfiable)
	f(fmt.Sprintf("bytes=%d-", math.MaxInt), 10, Unsatisfiable)
	f(fmt.Sprintf("bytes=0-%d", math.MaxInt), math.MaxInt, Partial, Range{0, math.MaxInt - 1})
	// last-pos < first-pos is decided on the digits, not the saturated
	// values: both of these saturate.
	f("bytes="+huge+"0-"+huge, 10, Full)
	f("bytes=000"+huge+"-"+huge, 10, Unsatisfiable) // leading zeros are the same number
}

// §14.2 and §17.15: a client asking for many ranges is a broken client or
// an attack. MaxRanges list elements are answered, one more is ignored.
func TestParseMaxRanges(t *testing.T) {
	list := func(n int, elem func(i int) string) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = elem(i)
		}
		return "bytes=" + strings.Join(parts, ",")
	}
	apart := func(i int) string { return fmt.Sprintf("%d-%d", 2*i, 2*i) }
	rs, out := Parse(nil, []byte(list(MaxRanges, apart)), 1000)
	if out != Partial || len(rs) != MaxRanges || rs[MaxRanges-1] != (Range{2 * (MaxRanges - 1), 2 * (MaxRanges - 1)}) {
		t.Fatalf("%d ranges: %v, %d ranges", MaxRanges, out, len(rs))
	}
	if _, out := Parse(nil, []byte(list(MaxRanges+1, apart)), 1000); out != Full {
		t.Fatalf("%d ranges: %v, want Full", MaxRanges+1, out)
	}
	// Empty elements count: a field of commas is not a free scan.
	if _, out := Parse(nil, []byte("bytes=0-1"+strings.Repeat(",", MaxRanges)), 1000); out != Full {
		t.Fatalf("%d empty elements: %v, want Full", MaxRanges, out)
	}
	// CVE-2011-3192 with valid specs: every range overlaps the first, so
	// the answer is one part, never a hundred copies of the object.
	overlap := list(MaxRanges, func(i int) string {
		if i == 0 {
			return "0-"
		}
		return fmt.Sprintf("5-%d", 5+i)
	})
	if rs, out := Parse(nil, []byte(overlap), 1000); out != Partial || !slices.Equal(rs, []Range{{0, 999}}) {
		t.Fatalf("overlapping ranges: %v %v", out, rs)
	}
}

// Parse appends to dst and leaves what it held alone, whatever it returns.
func TestParseAppends(t *testing.T) {
	dst := []Range{{7, 7}}
	rs, out := Parse(dst, []byte("bytes=5-6,0-1,1-2"), 10)
	if out != Partial || !slices.Equal(rs, []Range{{7, 7}, {0, 2}, {5, 6}}) {
		t.Fatalf("%v %v", out, rs)
	}
	for _, v := range []string{"bytes=0-1,x", "bytes=20-"} {
		if rs, _ := Parse(dst, []byte(v), 10); !slices.Equal(rs, dst) {
			t.Fatalf("%q: dst became %v", v, rs)
		}
	}
}
