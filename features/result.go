package features

import (
	"fmt"
	"sync"
)

// Status says what a value is.
type Status uint8

const (
	// StatusPresent: the stored value, within max_age.
	StatusPresent Status = iota + 1
	// StatusNotFound: no value for this entity (or its source did not
	// answer in time; see Result.Incomplete).
	StatusNotFound
	// StatusOutsideMaxAge: a value exists but its event time is older than
	// the view's max_age (or unknown while a max_age is set).
	StatusOutsideMaxAge
	// StatusDefault: the feature's declared default, standing in for a
	// NOT_FOUND or OUTSIDE_MAX_AGE value (Cell.Why says which).
	StatusDefault
)

var statusNames = [...]string{StatusPresent: "PRESENT", StatusNotFound: "NOT_FOUND",
	StatusOutsideMaxAge: "OUTSIDE_MAX_AGE", StatusDefault: "DEFAULT"}

func (s Status) String() string {
	if int(s) < len(statusNames) && statusNames[s] != "" {
		return statusNames[s]
	}
	return fmt.Sprintf("Status(%d)", uint8(s))
}

// Cell is one entity's value of one ref.
type Cell struct {
	// Value is the canonical JSON of the value (nil: null). It is shared
	// with the cache: read-only.
	Value  []byte
	Status Status
	// Why is the status the default stands in for (Status DEFAULT only).
	Why Status
	// EventTime is the row's event time in Unix ns (0: unknown).
	EventTime int64
	// Old is the stored value of an OUTSIDE_MAX_AGE cell (or of a DEFAULT
	// standing in for one), which Value does not carry: Feast's Go server
	// answers it with that status, the native endpoint and models do not
	// use it. Shared with the cache: read-only.
	Old []byte

	tsJSON []byte // EventTime rendered as a JSON string, shared per row
}

// Result answers a Query. Release it when done with it.
type Result struct {
	Query *Query
	// Cells is row-major: Cells[row*len(Refs)+ref].
	Cells []Cell
	// Incomplete: some source did not answer (timeout, failure): the
	// affected values are NOT_FOUND or DEFAULT although data may exist.
	Incomplete bool
}

// Cell returns entity row i's value of ref j.
func (r *Result) Cell(i, j int) *Cell { return &r.Cells[i*len(r.Query.Refs)+j] }

var resultPool sync.Pool

func acquireResult(q *Query) *Result {
	n := len(q.Rows) * len(q.Refs)
	r, _ := resultPool.Get().(*Result)
	if r == nil {
		r = &Result{}
	}
	if cap(r.Cells) < n {
		r.Cells = make([]Cell, n)
	}
	r.Cells = r.Cells[:n]
	r.Query = q
	return r
}

// Release returns r to a pool; r and its cells must not be used after.
func (r *Result) Release() {
	if r == nil {
		return
	}
	clear(r.Cells) // drop references to cached rows
	r.Query, r.Incomplete = nil, false
	resultPool.Put(r)
}

// set fills c from a stored value (tooOld: its row is older than the
// view's max age), applying the default.
func (c *Cell) set(f *feature, val []byte, ts int64, tsJSON []byte, tooOld bool) {
	c.Value, c.EventTime, c.tsJSON, c.Why, c.Old = val, ts, tsJSON, 0, nil
	switch {
	case val == nil:
		c.Status = StatusNotFound
	case tooOld:
		c.Value, c.Old, c.Status = nil, val, StatusOutsideMaxAge
	default:
		c.Status = StatusPresent
		return
	}
	if f.def != nil {
		c.Value, c.Why, c.Status = f.def, c.Status, StatusDefault
	}
}
