package features

import (
	"context"
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
	nowNs := now.UnixNano()
	hits := 0
	for vi := range q.views {
		qv := &q.views[vi]
		for i, row := range q.Rows {
			sc.key = s.appendViewKey(sc.key[:0], qv.v, row, qv.cols)
			if enc, ok := s.lookupRow(qv.v, sc.key, now, nowNs); ok && s.fillRow(res, qv, i, enc, nowNs, &sc.rv) {
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
func (s *Store) lookupRow(v *view, key []byte, now time.Time, nowNs int64) ([]byte, bool) {
	if v.source == sourceHTTP {
		e, fr, ok := s.cache.Get(key, now)
		if !ok || fr != cache.Fresh {
			return nil, false
		}
		return e.Value, true
	}
	return s.rows.get(key, nowNs)
}

// fillRow sets row i's cells of qv's refs from an encoded row. False: the
// encoding is corrupt (treated as a miss).
func (s *Store) fillRow(res *Result, qv *qview, i int, enc []byte, nowNs int64, rv *rowView) bool {
	if err := rv.decode(enc, len(qv.v.features)); err != nil {
		return false
	}
	fillDecoded(res, qv, i, rv, nowNs)
	return true
}

// fillDecoded sets row i's cells of qv's refs from a decoded row.
func fillDecoded(res *Result, qv *qview, i int, rv *rowView, nowNs int64) {
	q := res.Query
	tooOld := rowTooOld(qv.v, rv.ts, nowNs)
	base := i * len(q.Refs)
	for _, j := range qv.refs {
		fi := q.refs[j].fi
		// rv.isOutside: the upstream kept the value but said it is older
		// than its max age, which is what set makes of any row too old.
		res.Cells[base+j].set(qv.v.features[fi], rv.vals[fi], rv.ts, rv.tsJSON, tooOld || rv.isOutside(fi))
	}
}

// rowTooOld says whether a row of v with event time ts (Unix ns) is older
// than v's max age at nowNs: an age of exactly max age is not, an unknown
// one is (or a value of some unknown age would pass for fresh), except
// from an upstream that sent no event time (Feast's Go server sends none
// unless asked, go/internal/feast/server/http_server.go): there the age is
// unknown, not too old. In nanoseconds, as pushed.
func rowTooOld(v *view, ts, nowNs int64) bool {
	maxAge := int64(v.maxAge)
	switch {
	case maxAge <= 0:
		return false
	case ts == 0:
		return v.source != sourceHTTP
	default:
		// Not nowNs-ts > maxAge: that overflows for an old enough ts.
		return ts < nowNs-maxAge
	}
}

// fillAbsent marks row i's cells of qv as not found (or default).
func fillAbsent(res *Result, qv *qview, i int) {
	q := res.Query
	base := i * len(q.Refs)
	for _, j := range qv.refs {
		res.Cells[base+j].set(qv.v.features[q.refs[j].fi], nil, 0, nil, false)
	}
}

// fallback answers row i of qv without its source, which did not answer
// for reason: NOT_FOUND or DEFAULT values, the result incomplete.
func fallback(res *Result, qv *qview, i int, reason Reason) {
	fillAbsent(res, qv, i)
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
	fillDecoded(res, qv, m.row, &sc.rv, now.UnixNano())
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
	s.rows.set(key, enc, now.Add(s.reg.cfg.RowTTL).UnixNano())
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
