package features

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tiercel/tiercel/cache"
	"github.com/tiercel/tiercel/internal/redisconn"
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
// or memory), then drops their L1 copies, so this process reads its own
// writes at once. A row's features not named keep their stored values
// (the write is a merge, atomic in Redis); the row's event time becomes
// the push's. Every problem of every row is reported (BadRequest);
// nothing is written unless all rows are valid.
func (s *Store) Push(ctx context.Context, viewName string, rows []PushRow) error {
	return s.PushViews(ctx, []ViewRows{{View: viewName, Rows: rows}})
}

// ViewRows are rows to write to one view.
type ViewRows struct {
	View string
	Rows []PushRow
}

// PushViews is Push for several views at once (a Feast push source feeds
// every view that names it): every row of every view is validated before
// any is written.
func (s *Store) PushViews(ctx context.Context, vrs []ViewRows) error {
	encs := make([][]pushEnc, len(vrs))
	views := make([]*view, len(vrs))
	for i, vr := range vrs {
		v := s.reg.views[vr.View]
		switch {
		case v == nil:
			return errf(BadRequest, "unknown_view", "unknown view %q", clipStr(vr.View))
		case v.source == sourceHTTP:
			return errf(BadRequest, "read_only_view", "view %q is served by an upstream and cannot be pushed to", v.name)
		case len(vr.Rows) > s.reg.cfg.MaxEntities:
			return errf(TooLarge, "too_many_rows", "%d rows, at most %d per push", len(vr.Rows), s.reg.cfg.MaxEntities)
		case len(vr.Rows) == 0:
			return errf(BadRequest, "no_rows", "no rows to push")
		}
		var err error
		if encs[i], err = s.encodePush(v, vr.Rows); err != nil {
			return err
		}
		views[i] = v
	}
	for i, v := range views {
		if err := s.writeRows(ctx, v, encs[i]); err != nil {
			return err
		}
	}
	return nil
}

// writeRows writes a view's validated rows and drops their L1 copies.
func (s *Store) writeRows(ctx context.Context, v *view, encs []pushEnc) error {
	switch v.source {
	case sourceMemory:
		for i := range encs {
			s.mem.merge(encs[i].key, encs[i].packed(v))
		}
	case sourceRedis:
		if err := s.writeRedis(ctx, v, encs); err != nil {
			return err
		}
	}
	s.st.pushes.Add(uint64(len(encs)))
	// After the write, so that a Get reading the old row either sees the
	// bump and does not cache it, or cached it before this invalidation.
	v.writes.Add(1)
	for i := range encs {
		s.rows.del(stringBytes(encs[i].key))
	}
	return nil
}

// mergeScript runs mergeLua by its SHA, loading it when Redis lacks it.
var mergeScript = redis.NewScript(mergeLua)

// writeRedis writes rows in one pipeline through the Redis breaker.
func (s *Store) writeRedis(ctx context.Context, v *view, encs []pushEnc) error {
	if s.rdb == nil {
		return &Error{Kind: Unavailable, Code: "no_redis", Message: "view " + v.name + " lives in Redis, which is not configured", Err: ErrUnavailable}
	}
	done, err := s.redisBr.allow()
	if err == nil {
		var cmds []redis.Cmder
		cmds, err = s.pipeWrites(ctx, v, encs)
		if anyErrorPrefix(cmds, "NOSCRIPT") {
			// A restarted, flushed or newly promoted node forgot the merge
			// script: load it (a ClusterClient's ScriptLoad reaches every
			// shard) and send the whole pipeline again, the merges being
			// idempotent. Any command may be the one, not just the first:
			// on a cluster each shard answers for its own.
			if err = mergeScript.Load(ctx, s.rdb).Err(); err != nil {
				cmds = nil
			} else {
				cmds, err = s.pipeWrites(ctx, v, encs)
			}
		}
		done(redisconn.PipelineFailure(cmds, err))
	}
	if err != nil {
		return &Error{Kind: Unavailable, Code: "redis_unavailable", Message: "cannot write to Redis", Err: fmt.Errorf("cannot push: %w: %w", ErrUnavailable, err)}
	}
	return nil
}

// pipeWrites sends one merge per row: one key each, so that on a cluster
// every script stays within one slot.
func (s *Store) pipeWrites(ctx context.Context, v *view, encs []pushEnc) ([]redis.Cmder, error) {
	return s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range encs {
			mergeScript.EvalSha(ctx, p, []string{encs[i].key}, encs[i].packed(v))
		}
		return nil
	})
}

func anyErrorPrefix(cmds []redis.Cmder, prefix string) bool {
	for _, c := range cmds {
		if redis.HasErrorPrefix(c.Err(), prefix) {
			return true
		}
	}
	return false
}

// pushEnc is one validated push row.
type pushEnc struct {
	key  string // appendViewKey
	ts   int64  // Unix ns
	vals []pushVal
}

type pushVal struct {
	fi    int
	canon []byte // canonical JSON
}

// packed is the row as a partial stored row.
func (e *pushEnc) packed(v *view) []byte {
	var sb storedBuilder
	sb.begin(nil, e.ts)
	for _, pv := range e.vals {
		sb.value(v.tags[pv.fi], pv.canon)
	}
	return sb.b
}

// encodePush validates rows and encodes them.
func (s *Store) encodePush(v *view, rows []PushRow) ([]pushEnc, error) {
	var p problems
	encs := make([]pushEnc, len(rows))
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
		e := &encs[i]
		e.key = string(s.appendViewKey(nil, v, vals, cols))
		if len(r.Values) == 0 {
			p.add("rows[%d].values: empty", i)
		}
		for _, name := range sortedKeys(r.Values) {
			fi, ok := v.byName[name]
			if !ok {
				p.add("rows[%d].values: unknown feature %q in view %q", i, clipStr(name), v.name)
				continue
			}
			canon, err := v.features[fi].typ.canonJSON(nil, r.Values[name])
			if err != nil {
				p.add("rows[%d].values.%s: %v", i, name, err)
				continue
			}
			e.vals = append(e.vals, pushVal{fi: fi, canon: canon})
		}
		// View order: the order stored rows are read fastest in.
		slices.SortFunc(e.vals, func(a, b pushVal) int { return a.fi - b.fi })
		t := r.EventTime
		if t.IsZero() {
			t = s.now()
		}
		var ok bool
		if e.ts, ok = eventNanos(t); !ok {
			p.add("rows[%d]: event time %s is outside the range of event times, 1970-01-01T00:00:00Z to %s",
				i, t.UTC().Format(time.RFC3339Nano), maxEventTime.UTC().Format(time.RFC3339Nano))
		}
		if len(p) > 50 {
			p.add("…")
			break
		}
	}
	if err := p.err(BadRequest, "bad_rows"); err != nil {
		return nil, err
	}
	return encs, nil
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
		keys = append(keys, s.appendViewKey(nil, v, vals, cols))
	}
	v.writes.Add(1)
	if v.source != sourceHTTP {
		s.rows.del(keys...)
		return nil
	}
	if _, err := s.cache.Invalidate(ctx, cache.Invalidation{Keys: keys}); err != nil {
		return fmt.Errorf("cannot invalidate rows: %w", err)
	}
	return nil
}
