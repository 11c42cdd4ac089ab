package features

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// readRedis answers every redis-view miss of a Get with one pipeline of
// HMGETs, bounded by RedisTimeout and ctx. Rows it could not read are
// absent, and the result incomplete.
func (s *Store) readRedis(ctx context.Context, res *Result, misses []miss, sc *getScratch, now time.Time) {
	q := res.Query
	nowMs := now.UnixMilli()
	if s.rdb == nil {
		s.markUnread(res, misses, nowMs)
		return
	}
	// Writes counted before the read: a row read is only cached if its
	// view saw no write meanwhile (see view.writes).
	w0 := make([]uint64, len(q.views))
	for i := range q.views {
		w0[i] = q.views[i].v.writes.Load()
	}
	rctx, cancel := context.WithTimeout(ctx, s.reg.cfg.RedisTimeout)
	defer cancel()
	if rctx.Err() != nil {
		s.markUnread(res, misses, nowMs)
		return
	}
	prefix := s.reg.cfg.KeyPrefix
	cmds := make([]*redis.SliceCmd, len(misses))
	s.st.redisPipelines.Add(1)
	s.st.rowRedisReads.Add(uint64(len(misses)))
	_, err := s.rdb.Pipelined(rctx, func(p redis.Pipeliner) error {
		for i, m := range misses {
			cmds[i] = p.HMGet(rctx, prefix+m.key, q.views[m.qv].v.fields...)
		}
		return nil
	})
	if err != nil && err != redis.Nil {
		s.st.redisFailures.Add(1)
		s.log.Debug("features: redis pipeline failed", "rows", len(misses), "err", err)
		s.markUnread(res, misses, nowMs)
		return
	}
	vals := make([][]byte, 0, 64)
	stored := make([][]string, len(q.views))
	for i, m := range misses {
		qv := &q.views[m.qv]
		vals = vals[:0]
		for _, x := range cmds[i].Val() {
			if str, ok := x.(string); ok {
				vals = append(vals, []byte(str))
			} else {
				vals = append(vals, nil)
			}
		}
		if len(vals) != len(qv.v.fields) {
			s.st.redisFailures.Add(1)
			fillAbsent(res, qv, m.row, nowMs)
			res.Incomplete = true
			continue
		}
		enc := s.buildRow(qv.v, vals, sc)
		s.fillRow(res, qv, m.row, enc, nowMs, &sc.rv)
		if qv.v.writes.Load() == w0[m.qv] {
			s.storeRow(m.key, enc, now)
			stored[m.qv] = append(stored[m.qv], m.key)
		}
	}
	// A write that landed between the check and the store would otherwise
	// leave the old row in L1 for RowTTL: drop what this Get stored.
	for vi, keys := range stored {
		if len(keys) > 0 && q.views[vi].v.writes.Load() != w0[vi] {
			s.invalidateRows(context.Background(), keys)
		}
	}
}

func (s *Store) markUnread(res *Result, misses []miss, nowMs int64) {
	for _, m := range misses {
		fillAbsent(res, &res.Query.views[m.qv], m.row, nowMs)
	}
	res.Incomplete = true
}

func (s *Store) invalidateRows(ctx context.Context, keys []string) {
	bs := make([][]byte, len(keys))
	for i, k := range keys {
		bs[i] = []byte(k)
	}
	_, _ = s.rows.InvalidateKeys(ctx, bs...)
}
