package features

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tiercel/tiercel/cache"
)

// PushRow is one entity's new feature values for a view.
type PushRow struct {
	// Entity holds the view's join key values as text (int64 in decimal).
	Entity map[string]string
	// Values maps feature names to JSON values of their types (JSON text). Features
	// not named keep their stored values.
	Values map[string][]byte
	// EventTime of the values (zero: now).
	EventTime time.Time
}

// Push validates rows against the view and writes them to its store (Redis
// hashes or memory), then drops their L1 copies, so this process reads its
// own writes at once. Every problem of every row is reported (BadRequest);
// nothing is written unless all rows are valid.
func (s *Store) Push(ctx context.Context, viewName string, rows []PushRow) error {
	v := s.reg.views[viewName]
	switch {
	case v == nil:
		return errf(BadRequest, "unknown_view", "unknown view %q", clipStr(viewName))
	case v.source == sourceHTTP:
		return errf(BadRequest, "read_only_view", "view %q is served by an upstream and cannot be pushed to", v.name)
	case len(rows) > s.reg.cfg.MaxEntities:
		return errf(TooLarge, "too_many_rows", "%d rows, at most %d per push", len(rows), s.reg.cfg.MaxEntities)
	case len(rows) == 0:
		return errf(BadRequest, "no_rows", "no rows to push")
	}
	keys, hashes, err := s.encodePush(v, rows)
	if err != nil {
		return err
	}
	switch v.source {
	case sourceMemory:
		for i, k := range keys {
			s.mem.hset(s.reg.cfg.KeyPrefix+k, hashes[i])
		}
	case sourceRedis:
		if s.rdb == nil {
			return &Error{Kind: Unavailable, Code: "no_redis", Message: "view " + v.name + " lives in Redis, which is not configured", Err: ErrUnavailable}
		}
		if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, k := range keys {
				p.HSet(ctx, s.reg.cfg.KeyPrefix+k, flatten(hashes[i])...)
			}
			return nil
		}); err != nil {
			return &Error{Kind: Unavailable, Code: "redis_unavailable", Message: "cannot write to Redis", Err: fmt.Errorf("cannot push: %w: %w", ErrUnavailable, err)}
		}
	}
	s.st.pushes.Add(uint64(len(rows)))
	// After the write, so that a Get reading the old row either sees the
	// bump and does not cache it, or cached it before this invalidation.
	v.writes.Add(1)
	s.invalidateRows(ctx, keys)
	return nil
}

// encodePush turns rows into cache keys and Redis field maps.
func (s *Store) encodePush(v *view, rows []PushRow) ([]string, []map[string][]byte, error) {
	var p problems
	keys := make([]string, len(rows))
	hashes := make([]map[string][]byte, len(rows))
	cols := make([]int, len(v.keys))
	for i := range cols {
		cols[i] = i
	}
	vals := make([]string, len(v.keys))
	for i, r := range rows {
		for k, jk := range v.keys {
			val, ok := r.Entity[jk.name]
			if !ok {
				p.add("rows[%d].entity: missing join key %q", i, jk.name)
			} else if jk.typ == Int64 {
				if _, err := strconv.ParseInt(val, 10, 64); err != nil {
					p.add("rows[%d].entity.%s: want int64, got %q", i, jk.name, clipStr(val))
				}
			}
			vals[k] = val
		}
		for _, name := range sortedKeys(r.Entity) {
			if !hasKey(v.keys, name) {
				p.add("rows[%d].entity: view %q has no join key %q", i, v.name, clipStr(name))
			}
		}
		keys[i] = string(appendRowKey(nil, v, vals, cols))
		h := make(map[string][]byte, len(r.Values)+1)
		if len(r.Values) == 0 {
			p.add("rows[%d].values: empty", i)
		}
		for _, name := range sortedKeys(r.Values) {
			fi, ok := v.byName[name]
			if !ok {
				p.add("rows[%d].values: unknown feature %q in view %q", i, clipStr(name), v.name)
				continue
			}
			f := v.features[fi]
			canon, err := f.typ.canonJSON(nil, r.Values[name])
			if err != nil {
				p.add("rows[%d].values.%s: %v", i, name, err)
				continue
			}
			h[name] = f.typ.appendRedis(nil, canon)
		}
		t := r.EventTime
		if t.IsZero() {
			t = s.now()
		}
		h[tsField] = strconv.AppendInt(nil, t.UnixMilli(), 10)
		hashes[i] = h
		if len(p) > 50 {
			p.add("…")
			break
		}
	}
	if err := p.err(BadRequest, "bad_rows"); err != nil {
		return nil, nil, err
	}
	return keys, hashes, nil
}

func hasKey(keys []joinKey, name string) bool {
	for _, k := range keys {
		if k.name == name {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func flatten(h map[string][]byte) []any {
	out := make([]any, 0, 2*len(h))
	for k, v := range h {
		out = append(out, k, v)
	}
	return out
}

// InvalidateRows drops the cached rows of a view for the given entities
// (join key name → text value) in this process, and in L2 for http views.
// The invalidation consumer calls it for entity events.
func (s *Store) InvalidateRows(ctx context.Context, viewName string, entities []map[string]string) error {
	v := s.reg.views[viewName]
	if v == nil {
		return errf(BadRequest, "unknown_view", "unknown view %q", clipStr(viewName))
	}
	cols := make([]int, len(v.keys))
	for i := range cols {
		cols[i] = i
	}
	keys := make([][]byte, 0, len(entities))
	vals := make([]string, len(v.keys))
	for _, e := range entities {
		for k, jk := range v.keys {
			vals[k] = e[jk.name]
		}
		keys = append(keys, appendRowKey(nil, v, vals, cols))
	}
	v.writes.Add(1)
	var c *cache.Tiered = s.rows
	if v.source == sourceHTTP {
		c = s.cache
	}
	if _, err := c.InvalidateKeys(ctx, keys...); err != nil {
		return fmt.Errorf("cannot invalidate rows: %w", err)
	}
	return nil
}
