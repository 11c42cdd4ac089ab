package features

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/tiercel/tiercel/internal/jsonstr"
)

// feastRequest is Feast's POST /get-online-features body.
type feastRequest struct {
	Features         []string        `json:"features"`
	FeatureService   *string         `json:"feature_service"`
	Entities         json.RawMessage `json:"entities"`
	FullFeatureNames bool            `json:"full_feature_names"`
	// Accepted for compatibility; Tiercel has no on-demand views.
	RequestContext json.RawMessage `json:"request_context"`
}

// ParseFeast parses and validates a Feast /get-online-features body.
func (s *Store) ParseFeast(body []byte) (*Query, error) {
	var req feastRequest
	// Feast clients send fields Tiercel has no use for (query_string...):
	// unknown fields are ignored, as Feast's own servers do.
	if err := decodeStrict(body, &req, true); err != nil {
		return nil, err
	}
	refs := req.Features
	switch {
	case req.FeatureService != nil && len(refs) > 0:
		return nil, errf(BadRequest, "bad_request", "set features or feature_service, not both")
	case req.FeatureService != nil:
		var err error
		if refs, err = s.ServiceRefs(*req.FeatureService); err != nil {
			return nil, err
		}
	}
	keys, cols, err := entityColumns(req.Entities)
	if err != nil {
		return nil, err
	}
	var p problems
	n := -1
	for k, name := range keys {
		if _, ok := s.reg.keyTypes[name]; !ok {
			p.add("unknown join key %q", clipStr(name))
			continue
		}
		if n >= 0 && len(cols[k]) != n {
			p.add("entity column %q has %d values, %q has %d", name, len(cols[k]), keys[0], n)
		}
		n = max(n, len(cols[k]))
	}
	if err := p.err(BadRequest, "bad_entities"); err != nil {
		return nil, err
	}
	n = max(n, 0)
	if n > s.reg.cfg.MaxEntities {
		return nil, errf(TooLarge, "too_many_entities", "%d entity rows, at most %d per request", n, s.reg.cfg.MaxEntities)
	}
	rows := make([][]string, n)
	for i := range rows {
		rows[i] = make([]string, len(keys))
		for k, name := range keys {
			var err error
			if rows[i][k], err = keyText(s.reg.keyTypes[name], cols[k][i]); err != nil {
				p.add("entities.%s[%d]: %v", name, i, err)
			}
		}
		if len(p) > 20 {
			break
		}
	}
	if err := p.err(BadRequest, "bad_entities"); err != nil {
		return nil, err
	}
	q, err := s.NewQuery(refs, keys, rows)
	if err != nil {
		return nil, err
	}
	q.FullFeatureNames = req.FullFeatureNames
	return q, nil
}

// entityColumns parses Feast's entities object, keeping its key order:
// Feast returns the entity columns first, in the order they were given.
func entityColumns(raw json.RawMessage) ([]string, [][]json.RawMessage, error) {
	if len(bytes.TrimSpace(raw)) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil, nil, errf(BadRequest, "no_entities", "entities: missing")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, nil, errf(BadRequest, "bad_entities", "entities: want an object of columns")
	}
	var keys []string
	var cols [][]json.RawMessage
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, nil, badJSON(err)
		}
		name := t.(string) // object keys are always strings
		var col []json.RawMessage
		if err := dec.Decode(&col); err != nil {
			return nil, nil, errf(BadRequest, "bad_entities", "entities.%s: want a list of values", clipStr(name))
		}
		if seen[name] {
			return nil, nil, errf(BadRequest, "bad_entities", "entities.%s: given twice", clipStr(name))
		}
		seen[name] = true
		keys = append(keys, name)
		cols = append(cols, col)
	}
	return keys, cols, nil
}

// AppendFeast renders r the way Feast's feature servers answer
// /get-online-features: metadata.feature_names (entity columns first),
// then one result per column with values, statuses and event_timestamps.
// A DEFAULT value is reported with the status it stands in for
// (NOT_FOUND or OUTSIDE_MAX_AGE): Feast clients know no DEFAULT status.
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
	n := len(q.Refs)
	for j := range q.Refs {
		if j > 0 || len(q.JoinKeys) > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"values":[`...)
		for i := range q.Rows {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendValue(dst, &r.Cells[i*n+j])
		}
		dst = append(dst, `],"statuses":[`...)
		for i := range q.Rows {
			if i > 0 {
				dst = append(dst, ',')
			}
			c := &r.Cells[i*n+j]
			st := c.Status
			if st == StatusDefault {
				st = c.Why
			}
			dst = append(dst, '"')
			dst = append(dst, st.String()...)
			dst = append(dst, '"')
		}
		dst = append(dst, `],"event_timestamps":[`...)
		for i := range q.Rows {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendTS(dst, &r.Cells[i*n+j])
		}
		dst = append(dst, "]}"...)
	}
	return append(dst, "]}"...)
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
