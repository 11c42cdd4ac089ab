package features

import (
	"encoding/binary"
	"errors"
)

// A row is one view's values for one entity, as kept in the caches: every
// feature's canonical JSON and the row's event time, pre-rendered, so that
// serving a cached row is copying bytes.
//
//	version byte (2)
//	varint    event time, Unix ns (0: none)
//	uvarint   n, then n bytes: the event time as a JSON string
//	per feature, in view order: uvarint len+1 (0: absent), then len bytes
//	optionally (rows of http views): uvarint k, then k uvarint feature
//	    indexes whose value the upstream reported OUTSIDE_MAX_AGE
//
// The trailer is optional so that rows cached before it read the same.
// Version 1 rows, the same with the event time in Unix ms, are still read:
// an http view's rows live in L2 too, where a replica of the previous
// release may have left them.
const (
	rowVersion   = 2
	rowVersionMs = 1
)

// maxRowHeader bounds a row's bytes before its values: version, event
// time and its JSON rendering (at most 32 bytes: 9 fraction digits, and
// no event time is past 2262).
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

// begin starts a row whose event time is ts, Unix ns (0: unknown).
func (rb *rowBuilder) begin(dst []byte, ts int64) {
	rb.b = append(dst[:0], rowVersion)
	rb.b = binary.AppendVarint(rb.b, ts)
	var tmp [40]byte
	tsJSON := appendTimestamp(tmp[:0], ts)
	rb.b = binary.AppendUvarint(rb.b, uint64(len(tsJSON)))
	rb.b = append(rb.b, tsJSON...)
	rb.tsLen = len(tsJSON)
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
	ts     int64 // Unix ns
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
	if len(b) < 1 || (b[0] != rowVersion && b[0] != rowVersionMs) {
		return errBadRow
	}
	ts, k := binary.Varint(b[1:])
	if k <= 0 {
		return errBadRow
	}
	if b[0] == rowVersionMs {
		if ts = millisToNanos(ts); ts < 0 {
			return errBadRow
		}
	}
	b = b[1+k:]
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
