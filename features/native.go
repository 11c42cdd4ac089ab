package features

import (
	"context"
	"encoding/json"
	"sort"

	"github.com/tiercel/tiercel/internal/jsonstr"
)

// ParseNative parses and validates a POST /v1/features body. The result
// shares nothing with body.
func (s *Store) ParseNative(body []byte) (*Query, error) {
	refs, keys, rows, err := s.parseNative(body)
	if err != nil {
		return nil, err
	}
	return s.NewQuery(refs, keys, rows)
}

// entityRows turns row objects into columns and text values.
func (s *Store) entityRows(entities []map[string]json.RawMessage) ([]string, [][]string, error) {
	if len(entities) > s.reg.cfg.MaxEntities {
		return nil, nil, errf(TooLarge, "too_many_entities", "%d entity rows, at most %d per request", len(entities), s.reg.cfg.MaxEntities)
	}
	// The columns are the union of the rows' keys; every row must have all.
	seen := map[string]bool{}
	var keys []string
	for _, e := range entities {
		for k := range e {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	var p problems
	for _, k := range keys {
		if _, ok := s.reg.keyTypes[k]; !ok {
			p.add("unknown join key %q", clipStr(k))
		}
	}
	if err := p.err(BadRequest, "bad_entities"); err != nil {
		return nil, nil, err
	}
	rows := make([][]string, len(entities))
	for i, e := range entities {
		row := make([]string, len(keys))
		for k, name := range keys {
			v, ok := e[name]
			if !ok {
				p.add("entities[%d]: missing %q", i, name)
				continue
			}
			var err error
			if row[k], err = keyText(s.reg.keyTypes[name], v); err != nil {
				p.add("entities[%d].%s: %v", i, name, err)
			}
		}
		rows[i] = row
		if len(p) > 20 {
			break
		}
	}
	return keys, rows, p.err(BadRequest, "bad_entities")
}

// AppendNative renders r as a POST /v1/features response.
func (r *Result) AppendNative(dst []byte) []byte {
	q := r.Query
	dst = append(dst, `{"features":`...)
	dst = appendStrings(dst, q.Refs, nil)
	dst = append(dst, `,"results":[`...)
	n := len(q.Refs)
	for i, row := range q.Rows {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"entity":{`...)
		for k, name := range q.JoinKeys {
			if k > 0 {
				dst = append(dst, ',')
			}
			dst = jsonstr.Append(dst, name)
			dst = append(dst, ':')
			dst = appendKeyJSON(dst, q.keyTypes[k], row[k])
		}
		cells := r.Cells[i*n : (i+1)*n]
		dst = append(dst, `},"values":[`...)
		for j := range cells {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = appendValue(dst, &cells[j])
		}
		dst = append(dst, `],"statuses":[`...)
		for j := range cells {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, '"')
			dst = append(dst, cells[j].Status.String()...)
			dst = append(dst, '"')
		}
		dst = append(dst, `],"event_timestamps":[`...)
		for j := range cells {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = appendTS(dst, &cells[j])
		}
		dst = append(dst, "]}"...)
	}
	dst = append(dst, `],"incomplete":`...)
	dst = appendBool(dst, r.Incomplete)
	return append(dst, '}')
}

func appendBool(dst []byte, b bool) []byte {
	if b {
		return append(dst, "true"...)
	}
	return append(dst, "false"...)
}

// ServeNative answers a POST /v1/features body: the response appended to
// dst, or an *Error.
func (s *Store) ServeNative(ctx context.Context, body, dst []byte) ([]byte, error) {
	q, err := s.ParseNative(body)
	if err != nil {
		return dst, err
	}
	res, err := s.Get(ctx, q)
	if err != nil {
		return dst, err
	}
	dst = res.AppendNative(dst)
	res.Release()
	return dst, nil
}
