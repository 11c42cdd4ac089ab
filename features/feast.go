package features

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/tiercel/tiercel/internal/jsonstr"
)

// ParseFeast parses and validates a Feast /get-online-features body.
// Where Feast's Python server raises one of its exceptions, the error says
// which (Error.Feast), so that the edge answers as that server does.
func (s *Store) ParseFeast(body []byte) (*Query, error) {
	// Feast clients send fields Tiercel has no use for (query_string...):
	// unknown fields are ignored, as Feast's own servers do.
	p := feastParser{s: s}
	if err := p.parse(body); err != nil {
		return nil, err
	}
	return s.feastQuery(p.refs, p.service, p.entities, p.full)
}

// feastQuery checks a parsed Feast request in the order Feast's Python
// server does and builds its query.
func (s *Store) feastQuery(features []string, service *string, entities []byte, full bool) (*Query, error) {
	refs, err := s.feastRefs(features, service, full)
	if err != nil {
		return nil, err
	}
	keys, cols, err := entityColumns(entities)
	if err != nil {
		return nil, err
	}
	rows, err := s.feastRows(keys, cols)
	if err != nil {
		return nil, err
	}
	q, err := s.NewQuery(refs, keys, rows)
	if err != nil {
		return nil, err
	}
	q.FullFeatureNames = full
	return q, nil
}

// feastRefs returns the refs a Feast request names: its features, then its
// feature service's refs not already among them. Feast's Go server combines
// the two (its Python server reads only the service); a ref given twice is
// one column.
func (s *Store) feastRefs(features []string, service *string, full bool) ([]string, error) {
	refs := features
	if service != nil {
		svc, ok := s.reg.services[*service]
		if !ok {
			// feast.errors.FeatureServiceNotFoundException, 404.
			return nil, feastErr(NotFound, "unknown_feature_service", "FeatureServiceNotFoundException",
				"Feature service %s does not exist", clipStr(*service))
		}
		refs = slices.Clip(refs)
		for _, r := range svc {
			if !slices.Contains(features, r) {
				refs = append(refs, r)
			}
		}
	}
	if len(refs) > s.reg.cfg.MaxRefs {
		return nil, errf(TooLarge, "too_many_features", "%d feature refs, at most %d per request", len(refs), s.reg.cfg.MaxRefs)
	}
	// feast.utils._get_online_request_context checks collisions
	// (_validate_feature_refs) before it looks the views up
	// (_group_feature_refs): a request with both errors gets the former.
	if err := feastCollisions(refs, full); err != nil {
		return nil, err
	}
	for _, ref := range refs {
		vn, fn, ok := strings.Cut(ref, ":")
		if !ok {
			continue // NewQuery reports it
		}
		v := s.reg.views[vn]
		if v == nil {
			// feast.utils._group_feature_refs raises
			// FeatureViewNotFoundException(view_name), 404.
			return nil, feastErr(NotFound, "unknown_features", "FeatureViewNotFoundException",
				"Feature view %s does not exist", clipStr(vn))
		}
		if _, ok := v.byName[fn]; !ok {
			// FeatureViewProjection.get_feature raises a KeyError,
			// which the server answers as 500 with its text.
			return nil, feastErr(BadRequest, "unknown_features", "KeyError",
				"Feature %s not found in projection %s", clipStr(fn), vn)
		}
	}
	return refs, nil
}

// feastCollisions refuses two refs that name the same column, as
// feast.utils._validate_feature_refs does: with short names, the same
// feature name twice (in two views, or one ref twice); with full names,
// the same ref twice. The message is FeatureNameCollisionError's
// (feast/errors.py), which joins a Python set: one name each.
func feastCollisions(refs []string, full bool) error {
	seen := make(map[string]bool, len(refs))
	var dup []string
	for _, r := range refs {
		if !strings.Contains(r, ":") {
			continue // NewQuery reports it
		}
		n := shortName(r)
		if full {
			n = fullName(r)
		}
		if seen[n] && !slices.Contains(dup, n) {
			dup = append(dup, n)
		}
		seen[n] = true
	}
	if len(dup) == 0 {
		return nil
	}
	hint := "To resolve this collision, either use the full feature name by setting " +
		"'full_feature_names=True', or ensure that the features in question have different names."
	if full {
		hint = "To resolve this collision, please ensure that the feature views or their own features " +
			"have different names. If you're intentionally joining the same feature view twice on " +
			"different sets of entities, please rename one of the feature views with '.with_name'."
	}
	return feastErr(BadRequest, "feature_name_collision", "FeatureNameCollisionError",
		"Duplicate features named %s found.\n%s", strings.Join(dup, ", "), hint)
}

// AppendFeast renders r the way Feast's feature servers answer
// /get-online-features: metadata.feature_names (entity columns first),
// then one result per column with values, statuses and event_timestamps.
// Each cell is answered as feastCell says; floats as feastFloats does.
func (r *Result) AppendFeast(dst []byte) []byte {
	q := r.Query
	dst = append(dst, `{"metadata":{"feature_names":[`...)
	for k, name := range q.JoinKeys {
		if k > 0 {
			dst = append(dst, ',')
		}
		dst = jsonstr.Append(dst, name)
	}
	for j, ref := range q.Refs {
		if j > 0 || len(q.JoinKeys) > 0 {
			dst = append(dst, ',')
		}
		if q.FullFeatureNames {
			dst = jsonstr.Append(dst, fullName(ref))
		} else {
			dst = jsonstr.Append(dst, shortName(ref))
		}
	}
	dst = append(dst, `]},"results":[`...)
	for k := range q.JoinKeys {
		if k > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"values":[`...)
		for i, row := range q.Rows {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendKeyJSON(dst, q.keyTypes[k], row[k])
		}
		dst = appendRepeated(dst, `],"statuses":[`, len(q.Rows), `"PRESENT"`)
		dst = appendRepeated(dst, `],"event_timestamps":[`, len(q.Rows), epochJSON)
		dst = append(dst, "]}"...)
	}
	// One pass down each column reads every cell once: the cells are
	// row-major, so walking a column strides over a row's 50 cells, and
	// three walks (values, statuses, timestamps) were most of the cost.
	// The statuses and timestamps met on the way wait in sc.
	sc := feastScratchPool.Get().(*feastScratch)
	n := len(q.Refs)
	for j := range q.Refs {
		if j > 0 || len(q.JoinKeys) > 0 {
			dst = append(dst, ',')
		}
		v := q.refs[j].v
		float := v.features[q.refs[j].fi].typ.isFloat()
		sc.st, sc.ts = sc.st[:0], sc.ts[:0]
		dst = append(dst, `{"values":[`...)
		for i := range q.Rows {
			if i > 0 {
				dst = append(dst, ',')
			}
			c := &r.Cells[i*n+j]
			val, st := feastCell(c, v)
			sc.st = append(sc.st, st)
			sc.ts = append(sc.ts, c.tsJSON)
			switch {
			case val == nil:
				dst = append(dst, "null"...)
			case float:
				dst = appendFeastFloats(dst, val)
			default:
				dst = append(dst, val...)
			}
		}
		dst = append(dst, `],"statuses":[`...)
		for i, st := range sc.st {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, '"')
			dst = append(dst, st.String()...)
			dst = append(dst, '"')
		}
		dst = append(dst, `],"event_timestamps":[`...)
		for i, ts := range sc.ts {
			if i > 0 {
				dst = append(dst, ',')
			}
			if ts == nil {
				ts = epochBytes
			}
			dst = append(dst, ts...)
		}
		dst = append(dst, "]}"...)
	}
	clear(sc.ts) // the rows' bytes belong to the cache
	feastScratchPool.Put(sc)
	return append(dst, "]}"...)
}

// feastScratch holds one column's statuses and timestamps while
// AppendFeast writes its values.
type feastScratch struct {
	st []Status
	ts [][]byte
}

var feastScratchPool = sync.Pool{New: func() any { return new(feastScratch) }}

var epochBytes = []byte(epochJSON)

// feastCell is the value and status Feast's servers would answer for c, a
// cell of view v. Feast knows no DEFAULT status, and its servers answer a
// missing entity null + NOT_FOUND (Go: onlineserving.TransposeFeatureRows
// leaves the value unset; Python: null_val), so a default is answered
// only where the view opts in (feast_defaults), with the status it stands
// in for. A row older than max age keeps its value with OUTSIDE_MAX_AGE,
// as Feast's Go server answers it.
func feastCell(c *Cell, v *view) ([]byte, Status) {
	switch {
	case c.Status == StatusOutsideMaxAge:
		return c.Old, c.Status
	case c.Status != StatusDefault:
		return c.Value, c.Status
	case v.feastDefaults:
		return c.Value, c.Why
	case c.Why == StatusOutsideMaxAge:
		return c.Old, c.Why
	}
	return nil, c.Why
}

// appendFeastFloats appends a float feature's canonical JSON (a number or
// a list of them) with every whole number written with a fraction, 1.0
// for 1: the canonical form is the shortest, but Feast's Python server
// answers a float as Python's json does (1.0), and Python's json reads 1
// back as an int, so a client would see a float feature change type.
func appendFeastFloats(dst, val []byte) []byte {
	start := -1 // start of the number being copied; -1: not in one
	whole := false
	for i, b := range val {
		switch {
		case b == '-' || b >= '0' && b <= '9':
			if start < 0 {
				start, whole = i, true
			}
		case b == '.' || b == 'e' || b == 'E' || b == '+':
			whole = false
		default:
			if start >= 0 && whole {
				dst = append(dst, val[start:i]...)
				dst = append(dst, ".0"...)
				dst = append(dst, b)
				start = -1
				continue
			}
			if start >= 0 {
				dst = append(dst, val[start:i]...)
				start = -1
			}
			dst = append(dst, b)
		}
	}
	if start >= 0 {
		dst = append(dst, val[start:]...)
		if whole {
			dst = append(dst, ".0"...)
		}
	}
	return dst
}

func appendRepeated(dst []byte, prefix string, n int, item string) []byte {
	dst = append(dst, prefix...)
	for i := range n {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, item...)
	}
	return dst
}

// ServeFeast answers a Feast /get-online-features body.
func (s *Store) ServeFeast(ctx context.Context, body, dst []byte) ([]byte, error) {
	q, err := s.ParseFeast(body)
	if err != nil {
		return dst, err
	}
	res, err := s.Get(ctx, q)
	if err != nil {
		return dst, err
	}
	dst = res.AppendFeast(dst)
	res.Release()
	return dst, nil
}
