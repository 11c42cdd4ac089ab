package features

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/tiercel/tiercel/cache"
)

// getScratch is per-Get working memory, pooled.
type getScratch struct {
	key    []byte
	rv     rowView
	misses []miss
	canon  []byte
}

// miss is a row that L1 could not answer.
type miss struct {
	qv  int // index into Query.views
	row int // index into Query.Rows
	key string
}

var scratchPool = sync.Pool{New: func() any { return &getScratch{} }}

// Get answers q: L1 first, then one Redis pipeline for every redis-view
// row L1 missed, then one batched call per http view. It returns by ctx's
// deadline: what did not arrive by then is NOT_FOUND or DEFAULT and the
// result is marked Incomplete. The error is non-nil only for a closed or
// misconfigured Store; call Release on the result.
func (s *Store) Get(ctx context.Context, q *Query) (*Result, error) {
	now := s.now()
	res := acquireResult(q)
	sc := scratchPool.Get().(*getScratch)
	defer scratchPool.Put(sc)
	sc.misses = sc.misses[:0]
	nowMs := now.UnixMilli()
	hits := 0
	for vi := range q.views {
		qv := &q.views[vi]
		c := s.rowCache(qv.v)
		for i, row := range q.Rows {
			sc.key = appendRowKey(sc.key[:0], qv.v, row, qv.cols)
			if e, fr, ok := c.Get(sc.key, now); ok && fr == cache.Fresh {
				if s.fillRow(res, qv, i, e.Value, nowMs, &sc.rv) {
					hits++
					continue
				}
			}
			sc.misses = append(sc.misses, miss{qv: vi, row: i, key: string(sc.key)})
		}
	}
	s.st.gets.Add(1)
	s.st.values.Add(uint64(len(res.Cells)))
	s.st.rowL1Hits.Add(uint64(hits))
	if len(sc.misses) > 0 {
		s.fetchMisses(ctx, res, sc, now)
	}
	if res.Incomplete {
		s.st.incomplete.Add(1)
	}
	return res, nil
}

func (s *Store) rowCache(v *view) *cache.Tiered {
	if v.source == sourceHTTP {
		return s.cache
	}
	return s.rows
}

// fillRow sets row i's cells of qv's refs from an encoded row. False: the
// encoding is corrupt (treated as a miss).
func (s *Store) fillRow(res *Result, qv *qview, i int, enc []byte, nowMs int64, rv *rowView) bool {
	if err := rv.decode(enc, len(qv.v.features)); err != nil {
		return false
	}
	q := res.Query
	maxAge := qv.v.maxAge.Milliseconds()
	base := i * len(q.Refs)
	for _, j := range qv.refs {
		fi := q.refs[j].fi
		res.Cells[base+j].set(qv.v.features[fi], rv.vals[fi], rv.ts, rv.tsJSON, maxAge, nowMs)
	}
	return true
}

// fillAbsent marks row i's cells of qv as not found (or default).
func fillAbsent(res *Result, qv *qview, i int, nowMs int64) {
	q := res.Query
	base := i * len(q.Refs)
	for _, j := range qv.refs {
		res.Cells[base+j].set(qv.v.features[q.refs[j].fi], nil, 0, nil, 0, nowMs)
	}
}

func (s *Store) fetchMisses(ctx context.Context, res *Result, sc *getScratch, now time.Time) {
	q := res.Query
	var redisMisses, httpMisses []miss
	for _, m := range sc.misses {
		switch q.views[m.qv].v.source {
		case sourceRedis:
			redisMisses = append(redisMisses, m)
		case sourceMemory:
			s.readMemory(res, m, sc, now)
		case sourceHTTP:
			httpMisses = append(httpMisses, m)
		}
	}
	if len(redisMisses) > 0 {
		s.readRedis(ctx, res, redisMisses, sc, now)
	}
	if len(httpMisses) > 0 {
		s.readHTTP(ctx, res, httpMisses, now)
	}
}

func (s *Store) readMemory(res *Result, m miss, sc *getScratch, now time.Time) {
	qv := &res.Query.views[m.qv]
	vals := s.mem.hmget(s.reg.cfg.KeyPrefix+m.key, qv.v.fields, nil)
	enc := s.buildRow(qv.v, vals, sc)
	s.fillRow(res, qv, m.row, enc, now.UnixMilli(), &sc.rv)
	s.storeRow(m.key, enc, now)
}

// buildRow encodes a row from its HMGET reply (features, then _ts). Values
// of the wrong type are counted and treated as absent: the writer is at
// fault, and one bad field must not fail the request.
func (s *Store) buildRow(v *view, vals [][]byte, sc *getScratch) []byte {
	var ts int64
	if b := vals[len(v.features)]; b != nil {
		n, err := strconv.ParseInt(string(b), 10, 64)
		if err != nil || n < 0 {
			s.st.badStoredValues.Add(1)
		} else {
			ts = n
		}
	}
	var rb rowBuilder
	rb.begin(nil, ts)
	for fi, f := range v.features {
		b := vals[fi]
		if b == nil {
			rb.absent()
			continue
		}
		var err error
		sc.canon, err = f.typ.redisToJSON(sc.canon[:0], b)
		if err != nil {
			s.st.badStoredValues.Add(1)
			rb.absent()
			continue
		}
		rb.value(sc.canon)
	}
	return rb.b
}

// storeRow keeps a row read from Redis or memory in L1 for RowTTL.
func (s *Store) storeRow(key string, enc []byte, now time.Time) {
	e := &cache.Entry{Value: enc, StoredAt: now, FreshUntil: now.Add(s.reg.cfg.RowTTL)}
	// The fill returns at once, so Fetch does not wait on anything but the
	// cache's bookkeeping; its context only bounds that.
	_, _ = s.rows.Fetch(context.Background(), cache.Request{Key: []byte(key), Now: now},
		func(context.Context, []byte) (*cache.Entry, error) { return e, nil })
}
