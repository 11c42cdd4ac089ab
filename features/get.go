package features

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/tiercel/tiercel/cache"
)

// getScratch is per-Get working memory, pooled.
type getScratch struct {
	key    []byte
	rv     rowView
	misses []miss
	byKind [3][]miss // misses by source kind
}

// miss is a row that L1 could not answer.
type miss struct {
	qv  int    // index into Query.views
	row int    // index into Query.Rows
	key string // appendViewKey
}

var scratchPool = sync.Pool{New: func() any { return &getScratch{} }}

// Get answers q: L1 first, then one Redis pipeline for every redis-view
// row L1 missed, then one batched call per http view. It returns by ctx's
// deadline (and each view's budget): what did not arrive by then is
// NOT_FOUND or DEFAULT and the result is marked Incomplete. The error is
// non-nil only for a closed or misconfigured Store; call Release on the
// result.
func (s *Store) Get(ctx context.Context, q *Query) (*Result, error) {
	start := time.Now()
	now := s.now()
	res := acquireResult(q)
	sc := scratchPool.Get().(*getScratch)
	defer scratchPool.Put(sc)
	sc.misses = sc.misses[:0]
	nowMs := now.UnixMilli()
	hits := 0
	for vi := range q.views {
		qv := &q.views[vi]
		for i, row := range q.Rows {
			sc.key = s.appendViewKey(sc.key[:0], qv.v, row, qv.cols)
			if enc, ok := s.lookupRow(qv.v, sc.key, now, nowMs); ok && s.fillRow(res, qv, i, enc, nowMs, &sc.rv) {
				hits++
				continue
			}
			sc.misses = append(sc.misses, miss{qv: vi, row: i, key: string(sc.key)})
		}
	}
	s.st.gets.Add(1)
	s.st.values.Add(uint64(len(res.Cells)))
	s.st.rowL1Hits.Add(uint64(hits))
	if len(sc.misses) > 0 {
		s.fetchMisses(ctx, res, sc, now, start)
	}
	if res.Incomplete {
		s.st.incomplete.Add(1)
	}
	return res, nil
}

// lookupRow returns a row's encoding from L1, if fresh.
func (s *Store) lookupRow(v *view, key []byte, now time.Time, nowMs int64) ([]byte, bool) {
	if v.source == sourceHTTP {
		e, fr, ok := s.cache.Get(key, now)
		if !ok || fr != cache.Fresh {
			return nil, false
		}
		return e.Value, true
	}
	return s.rows.get(key, nowMs)
}

// fillRow sets row i's cells of qv's refs from an encoded row. False: the
// encoding is corrupt (treated as a miss).
func (s *Store) fillRow(res *Result, qv *qview, i int, enc []byte, nowMs int64, rv *rowView) bool {
	if err := rv.decode(enc, len(qv.v.features)); err != nil {
		return false
	}
	fillDecoded(res, qv, i, rv, nowMs)
	return true
}

// fillDecoded sets row i's cells of qv's refs from a decoded row.
func fillDecoded(res *Result, qv *qview, i int, rv *rowView, nowMs int64) {
	q := res.Query
	maxAge := qv.v.maxAge.Milliseconds()
	if rv.ts == 0 && qv.v.source == sourceHTTP {
		// The upstream sent no event time (Feast's Go server sends none
		// unless asked, go/internal/feast/server/http_server.go): the age
		// is unknown, not too old.
		maxAge = 0
	}
	base := i * len(q.Refs)
	for _, j := range qv.refs {
		fi := q.refs[j].fi
		if rv.isOutside(fi) {
			// The upstream kept the value but said it is older than its
			// max age: the cell is what set makes of any row too old.
			res.Cells[base+j].set(qv.v.features[fi], rv.vals[fi], rv.ts, rv.tsJSON, 1, math.MaxInt64)
			continue
		}
		res.Cells[base+j].set(qv.v.features[fi], rv.vals[fi], rv.ts, rv.tsJSON, maxAge, nowMs)
	}
}

// fillAbsent marks row i's cells of qv as not found (or default).
func fillAbsent(res *Result, qv *qview, i int, nowMs int64) {
	q := res.Query
	base := i * len(q.Refs)
	for _, j := range qv.refs {
		res.Cells[base+j].set(qv.v.features[q.refs[j].fi], nil, 0, nil, 0, nowMs)
	}
}

// fallback answers row i of qv without its source, which did not answer
// for reason: NOT_FOUND or DEFAULT values, the result incomplete.
func fallback(res *Result, qv *qview, i int, nowMs int64, reason Reason) {
	fillAbsent(res, qv, i, nowMs)
	qv.v.fallbacks[reason].Add(1)
	res.Incomplete = true
}

func (s *Store) fetchMisses(ctx context.Context, res *Result, sc *getScratch, now, start time.Time) {
	q := res.Query
	for k := range sc.byKind {
		sc.byKind[k] = sc.byKind[k][:0]
	}
	for _, m := range sc.misses {
		k := q.views[m.qv].v.source
		sc.byKind[k] = append(sc.byKind[k], m)
	}
	for _, m := range sc.byKind[sourceMemory] {
		s.readMemory(res, m, sc, now)
	}
	if ms := sc.byKind[sourceRedis]; len(ms) > 0 {
		s.readRedis(ctx, res, ms, sc, now, start)
	}
	if ms := sc.byKind[sourceHTTP]; len(ms) > 0 {
		s.readHTTP(ctx, res, ms, now, start)
	}
}

func (s *Store) readMemory(res *Result, m miss, sc *getScratch, now time.Time) {
	qv := &res.Query.views[m.qv]
	w0 := qv.v.writes.Load()
	enc := s.rowFromStored(qv.v, s.mem.get(m.key), sc)
	fillDecoded(res, qv, m.row, &sc.rv, now.UnixMilli())
	s.storeRow(qv.v, m.key, enc, now, w0)
}

// storeRow keeps a row read from Redis or memory in L1 for RowTTL, unless
// its view was written since w0 (view.writes before the read): the read
// may predate the write. A write that lands between the check and the
// store would leave the old row in L1 for RowTTL, so the store is checked
// again and undone; ristretto orders the delete after the set.
func (s *Store) storeRow(v *view, key string, enc []byte, now time.Time, w0 uint64) {
	if v.writes.Load() != w0 {
		return
	}
	s.rows.set(key, enc, now.Add(s.reg.cfg.RowTTL).UnixMilli())
	if v.writes.Load() != w0 {
		s.rows.del(stringBytes(key))
	}
}

// budgetCtx is ctx capped by a budget counted from start; cancel is nil
// when ctx's own deadline comes first (or the budget is 0).
func budgetCtx(ctx context.Context, start time.Time, budget time.Duration) (context.Context, context.CancelFunc) {
	if budget <= 0 {
		return ctx, nil
	}
	d := start.Add(budget)
	if cur, ok := ctx.Deadline(); ok && !d.Before(cur) {
		return ctx, nil
	}
	return context.WithDeadline(ctx, d)
}
