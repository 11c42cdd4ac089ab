package features

import (
	"fmt"
	"strconv"
	"strings"
)

// Query is a validated feature request: entity rows × `view:feature` refs.
// Build it with Store.NewQuery or one of the parsers; it is immutable and
// may be reused.
type Query struct {
	Refs     []string   // as requested, in response order
	JoinKeys []string   // entity columns, in request order
	Rows     [][]string // Rows[i][k]: row i's value of JoinKeys[k], as text

	// FullFeatureNames asks the Feast rendering for view__feature names.
	FullFeatureNames bool

	keyTypes []Scalar // per JoinKeys column
	refs     []qref   // resolved Refs
	views    []qview  // distinct views, in first-use order
}

type qref struct {
	v  *view
	fi int
}

// qview is one view of a query: which columns make its entity key and
// which refs it answers.
type qview struct {
	v    *view
	cols []int // JoinKeys column of each of v.keys
	refs []int // indices into Query.refs
}

// NewQuery validates refs, join keys and rows against the registry and the
// limits. It reports every unknown name and every bad value at once.
func (s *Store) NewQuery(refs, joinKeys []string, rows [][]string) (*Query, error) {
	r := s.reg
	if len(rows) > r.cfg.MaxEntities {
		return nil, errf(TooLarge, "too_many_entities", "%d entity rows, at most %d per request", len(rows), r.cfg.MaxEntities)
	}
	if len(refs) > r.cfg.MaxRefs {
		return nil, errf(TooLarge, "too_many_features", "%d feature refs, at most %d per request", len(refs), r.cfg.MaxRefs)
	}
	if len(refs) == 0 {
		return nil, errf(BadRequest, "no_features", "no features requested")
	}
	q := &Query{Refs: refs, JoinKeys: joinKeys, Rows: rows, refs: make([]qref, len(refs))}
	var p problems
	viewAt := map[*view]int{}
	for i, ref := range refs {
		v, fi, err := r.resolve(ref)
		if err != nil {
			p.add("%v", err)
			continue
		}
		q.refs[i] = qref{v, fi}
		at, ok := viewAt[v]
		if !ok {
			at = len(q.views)
			viewAt[v] = at
			q.views = append(q.views, qview{v: v})
		}
		q.views[at].refs = append(q.views[at].refs, i)
	}
	if err := p.err(BadRequest, "unknown_features"); err != nil {
		return nil, err
	}
	q.keyTypes = make([]Scalar, len(joinKeys))
	col := map[string]int{}
	for k, name := range joinKeys {
		t, ok := r.keyTypes[name]
		if !ok {
			p.add("unknown join key %q", clipStr(name))
		}
		if _, dup := col[name]; dup {
			p.add("join key %q given twice", name)
		}
		col[name] = k
		q.keyTypes[k] = t
	}
	for i := range q.views {
		qv := &q.views[i]
		for _, k := range qv.v.keys {
			c, ok := col[k.name]
			if !ok {
				p.add("view %q needs join key %q", qv.v.name, k.name)
			}
			qv.cols = append(qv.cols, c)
		}
	}
	if err := p.err(BadRequest, "bad_entities"); err != nil {
		return nil, err
	}
	for i, row := range rows {
		if len(row) != len(joinKeys) {
			p.add("entity row %d has %d values for %d join keys", i, len(row), len(joinKeys))
			continue
		}
		for k, val := range row {
			if q.keyTypes[k] == Int64 {
				if _, err := strconv.ParseInt(val, 10, 64); err != nil {
					p.add("entity row %d: %s: want int64, got %q", i, joinKeys[k], clipStr(val))
				}
			}
		}
		if len(p) >= 20 {
			p.add("…")
			break
		}
	}
	return q, p.err(BadRequest, "bad_entities")
}

// fullName is Feast's full feature name: view__feature.
func fullName(ref string) string { return strings.Replace(ref, ":", "__", 1) }

// shortName is the feature part of a ref.
func shortName(ref string) string {
	_, f, _ := strings.Cut(ref, ":")
	return f
}

func (q *Query) String() string {
	return fmt.Sprintf("query(%d refs × %d rows)", len(q.Refs), len(q.Rows))
}
