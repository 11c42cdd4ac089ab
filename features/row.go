package features

import (
	"encoding/binary"
	"errors"
	"time"
)

// A row is one view's values for one entity, as kept in the caches: every
// feature's canonical JSON and the row's event time, pre-rendered, so that
// serving a cached row is copying bytes.
//
//	version byte (1)
//	varint    event time, Unix ms (0: none)
//	uvarint   n, then n bytes: the event time as a JSON string
//	per feature, in view order: uvarint len+1 (0: absent), then len bytes
//	optionally (rows of http views): uvarint k, then k uvarint feature
//	    indexes whose value the upstream reported OUTSIDE_MAX_AGE
//
// The trailer is optional so that rows cached before it read the same.
const rowVersion = 1

// maxRowHeader bounds a row's bytes before its values: version, event
// time and its JSON rendering (at most 34 bytes, for years past 9999).
const maxRowHeader = 1 + binary.MaxVarintLen64 + 1 + 40

// emptyRowOf is the row of n absent values and no event time: what a
// missing row reads as, cached like any other so that NOT_FOUND rows do
// not go back to Redis on every request.
func emptyRowOf(n int) []byte {
	var rb rowBuilder
	rb.begin(nil, 0)
	for range n {
		rb.absent()
	}
	return rb.b
}

var errBadRow = errors.New("corrupt cached row")

// rowBuilder assembles a row encoding.
type rowBuilder struct {
	b     []byte
	tsLen int
}

func (rb *rowBuilder) begin(dst []byte, tsMillis int64) {
	rb.b = append(dst[:0], rowVersion)
	rb.b = binary.AppendVarint(rb.b, tsMillis)
	var tmp [40]byte
	ts := appendTimestamp(tmp[:0], tsMillis)
	rb.b = binary.AppendUvarint(rb.b, uint64(len(ts)))
	rb.b = append(rb.b, ts...)
	rb.tsLen = len(ts)
}

// tsJSON is the event time rendered by begin, as a slice of the row.
func (rb *rowBuilder) tsJSON() []byte {
	n := len(rb.b)
	return rb.b[n-rb.tsLen : n : n]
}

func (rb *rowBuilder) absent() { rb.b = append(rb.b, 0) }

// outside appends the trailer: the features (indexes, ascending) whose
// values the upstream kept but reported older than its max age. Called
// once, after every value; nothing is appended for none.
func (rb *rowBuilder) outside(fis []int) {
	if len(fis) == 0 {
		return
	}
	rb.b = binary.AppendUvarint(rb.b, uint64(len(fis)))
	for _, fi := range fis {
		rb.b = binary.AppendUvarint(rb.b, uint64(fi))
	}
}

// value appends a value and returns it as a slice of the row (valid while
// the row is not grown past its capacity, or as a copy after).
func (rb *rowBuilder) value(canon []byte) []byte {
	rb.b = binary.AppendUvarint(rb.b, uint64(len(canon))+1)
	rb.b = append(rb.b, canon...)
	n := len(rb.b)
	return rb.b[n-len(canon) : n : n]
}

// rowView is a decoded row: slices into the encoding, which is shared and
// read-only.
type rowView struct {
	ts     int64
	tsJSON []byte
	vals   [][]byte // nil: absent
	// outside lists the features the upstream reported OUTSIDE_MAX_AGE
	// (http views), ascending.
	outside []int
}

// isOutside says whether the upstream reported feature fi too old.
func (rv *rowView) isOutside(fi int) bool {
	for _, o := range rv.outside {
		if o == fi {
			return true
		}
	}
	return false
}

// decode fills rv from b for a view of n features, reusing rv.vals.
func (rv *rowView) decode(b []byte, n int) error {
	if len(b) < 1 || b[0] != rowVersion {
		return errBadRow
	}
	b = b[1:]
	ts, k := binary.Varint(b)
	if k <= 0 {
		return errBadRow
	}
	b = b[k:]
	rv.ts = ts
	var ok bool
	if rv.tsJSON, b, ok = chunk(b, 0); !ok {
		return errBadRow
	}
	rv.vals = rv.vals[:0]
	for range n {
		var v []byte
		if v, b, ok = chunk(b, 1); !ok {
			return errBadRow
		}
		rv.vals = append(rv.vals, v)
	}
	rv.outside = rv.outside[:0]
	if len(b) == 0 {
		return nil
	}
	no, w := binary.Uvarint(b)
	if w <= 0 || no > uint64(n) {
		return errBadRow
	}
	b = b[w:]
	for range no {
		fi, w := binary.Uvarint(b)
		if w <= 0 || fi >= uint64(n) {
			return errBadRow
		}
		b = b[w:]
		rv.outside = append(rv.outside, int(fi))
	}
	return nil
}

// chunk reads a uvarint length (minus bias) and that many bytes; with bias
// 1 a zero length means nil.
func chunk(b []byte, bias uint64) (v, rest []byte, ok bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return nil, nil, false
	}
	b = b[k:]
	if n < bias {
		return nil, b, true
	}
	n -= bias
	if n > uint64(len(b)) {
		return nil, nil, false
	}
	return b[:n:n], b[n:], true
}

const epochJSON = `"1970-01-01T00:00:00Z"`

// appendTimestamp renders an event time as a JSON RFC 3339 string in UTC
// with millisecond precision when it has any (Feast's Python server
// renders whole seconds; sub-second precision parses the same).
func appendTimestamp(dst []byte, ms int64) []byte {
	if ms == 0 {
		return append(dst, epochJSON...)
	}
	t := time.UnixMilli(ms).UTC()
	dst = append(dst, '"')
	if ms%1000 == 0 {
		dst = t.AppendFormat(dst, time.RFC3339)
	} else {
		dst = t.AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
	}
	return append(dst, '"')
}
