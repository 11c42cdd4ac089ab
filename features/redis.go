package features

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tiercel/tiercel/internal/redisconn"
)

// readRedis answers every redis-view miss of a Get with one pipeline: one
// MGET of the stored rows (a GET each on Redis Cluster, whose MGET cannot
// span slots). The pipeline is
// bounded by RedisTimeout, ctx and the smallest budget of the views read;
// it is skipped while the feature Redis' breaker is open. Rows it could
// not read fall back to NOT_FOUND/DEFAULT, and the result is incomplete.
func (s *Store) readRedis(ctx context.Context, res *Result, misses []miss, sc *getScratch, now, start time.Time) {
	q := res.Query
	nowNs := now.UnixNano()
	if s.rdb == nil {
		s.markUnread(res, misses, ReasonError)
		return
	}
	// Writes counted before the read: a row read is only cached if its
	// view saw no write meanwhile (see view.writes).
	w0 := make([]uint64, len(q.views))
	budget := s.reg.cfg.RedisTimeout
	for i := range q.views {
		w0[i] = q.views[i].v.writes.Load()
	}
	for _, m := range misses {
		if b := q.views[m.qv].v.budget; b > 0 {
			budget = min(budget, b-time.Since(start))
		}
	}
	rctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	if rctx.Err() != nil {
		s.markUnread(res, misses, ReasonTimeout)
		return
	}
	done, err := s.redisBr.allow()
	if err != nil {
		s.markUnread(res, misses, ReasonBreakerOpen)
		return
	}
	rd := s.queueReads(rctx, q, misses)
	s.st.redisPipelines.Add(1)
	s.st.rowRedisReads.Add(uint64(len(misses)))
	// Exec's error is only the first command's: every reply is read, so
	// that on a cluster one shard's error replies (MOVED, CLUSTERDOWN)
	// leave the other shards' rows served. Not so for a shard that does
	// not answer in time: go-redis (v9.23) then stamps the context's error
	// on every command of the pipeline when it gives up retrying.
	_, _ = rd.pipe.Exec(rctx)
	var failed error // the first row the breaker counts against Redis
	encs := make([][]byte, len(misses))
	for i, m := range misses {
		qv := &q.views[m.qv]
		if j := rd.first[i]; j != i {
			// The same row for another entity row.
			if encs[j] == nil || !s.fillRow(res, qv, m.row, encs[j], nowNs, &sc.rv) {
				fallback(res, qv, m.row, ReasonError)
			}
			continue
		}
		enc, err := s.readReply(qv.v, rd, i, sc)
		if err != nil {
			if isReply(err) {
				s.st.rowErrors.Add(1)
			}
			if failed == nil && (redisconn.Failure(err) != nil || !isReply(err)) {
				failed = err
			}
			fallback(res, qv, m.row, reasonOf(err))
			continue
		}
		encs[i] = enc
		fillDecoded(res, qv, m.row, &sc.rv, nowNs)
		s.storeRow(qv.v, m.key, enc, now, w0[m.qv])
	}
	// One verdict per pipeline, for the breaker and the counters alike:
	// failures never outnumber pipelines.
	done(redisconn.Failure(failed))
	if failed != nil {
		s.st.redisFailures.Add(1)
		s.log.Debug("features: redis pipeline failed", "rows", len(misses), "err", failed)
	}
}

// errShortReply: a reply with fewer values than asked for, which no Redis
// sends; read as an error reply.
var errShortReply = errors.New("redis reply shorter than the request")

// isReply reports whether a row's error is Redis' answer (an error reply)
// rather than no answer (a timeout, a lost connection, a caller gone).
func isReply(err error) bool {
	var re redis.Error
	return errors.As(err, &re) || errors.Is(err, errShortReply)
}

// redisReads is one Get's pipeline and where each miss's reply is. A row
// asked for by several entity rows (a shop's, for many users) is read once.
type redisReads struct {
	pipe  redis.Pipeliner
	mget  *redis.StringSliceCmd // single node: every packed row
	cmds  []*redis.StringCmd    // per miss: its GET (nil: in mget)
	inGet []int                 // per miss: its index in mget
	first []int                 // per miss: the first miss of its key
}

func (s *Store) queueReads(ctx context.Context, q *Query, misses []miss) *redisReads {
	rd := &redisReads{pipe: s.rdb.Pipeline(), cmds: make([]*redis.StringCmd, len(misses)),
		inGet: make([]int, len(misses)), first: make([]int, len(misses))}
	seen := make(map[string]int, len(misses))
	var args []any
	for i, m := range misses {
		if j, dup := seen[m.key]; dup {
			rd.first[i] = j
			continue
		}
		seen[m.key] = i
		rd.first[i] = i
		if !s.single {
			rd.cmds[i] = rd.pipe.Get(ctx, m.key)
			continue
		}
		if args == nil {
			args = make([]any, 1, 1+len(misses))
			args[0] = "mget"
		}
		rd.inGet[i] = len(args) - 1
		args = append(args, m.key)
	}
	if args != nil {
		// A StringSliceCmd: replies as strings, not boxed in interfaces
		// (a missing key is ""; no stored row is empty).
		rd.mget = redis.NewStringSliceCmd(ctx, args...)
		_ = rd.pipe.Process(ctx, rd.mget)
	}
	return rd
}

// readReply turns miss i's reply into a row encoding, decoded in sc.rv;
// an error when the reply was one (a key of the wrong type, a slot the
// cluster could not serve) or never came.
func (s *Store) readReply(v *view, rd *redisReads, i int, sc *getScratch) ([]byte, error) {
	if cmd := rd.cmds[i]; cmd != nil {
		str, err := cmd.Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, err
		}
		return s.rowFromStored(v, stringBytes(str), sc), nil
	}
	vals, err := rd.mget.Result()
	if err != nil {
		return nil, err
	}
	if rd.inGet[i] >= len(vals) {
		return nil, errShortReply
	}
	return s.rowFromStored(v, stringBytes(vals[rd.inGet[i]]), sc), nil
}

func (s *Store) markUnread(res *Result, misses []miss, reason Reason) {
	for _, m := range misses {
		fallback(res, &res.Query.views[m.qv], m.row, reason)
	}
}

// rowFromStored encodes a row (row.go) from a stored row (storedrow.go),
// and leaves it decoded in sc.rv; an empty one is a row with no values. A
// value that is not JSON of its feature's type is absent and counted: the
// writer is at fault, and one bad value must not fail the request. The
// row is one allocation; the values are checked in place, never decoded.
func (s *Store) rowFromStored(v *view, raw []byte, sc *getScratch) []byte {
	rv := &sc.rv
	rv.ts, rv.tsJSON, rv.outside = 0, nil, rv.outside[:0]
	rv.vals = slices.Grow(rv.vals[:0], len(v.features))[:len(v.features)]
	clear(rv.vals)
	if len(raw) == 0 {
		return v.emptyRow
	}
	ts, ok := decodeStored(raw, v, rv.vals)
	if !ok || ts < 0 {
		clear(rv.vals)
		s.st.badStoredRows.Add(1)
		return v.emptyRow
	}
	var rb rowBuilder
	rb.begin(make([]byte, 0, maxRowHeader+len(raw)+len(v.features)), ts)
	rv.ts, rv.tsJSON = ts, rb.tsJSON()
	for fi, f := range v.features {
		val := rv.vals[fi]
		if val != nil && !f.typ.validJSON(val) {
			s.st.badStoredValues.Add(1)
			val = nil
		}
		if val == nil {
			rb.absent()
			rv.vals[fi] = nil
		} else {
			// The cells point into the row: it outlives the request in L1.
			rv.vals[fi] = rb.value(val)
		}
	}
	return rb.b
}
