package features

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/redis/go-redis/v9"

	"github.com/tiercel/tiercel/internal/batch"
	"github.com/tiercel/tiercel/internal/redisconn"
)

// lastGood remembers each entity's last good prediction per model, for
// when the model is down: in process, and in Redis when there is one, so
// that it survives a restart and reaches the replicas that never predicted
// for that entity. Keyed by model name, not version: during a failed
// rollout the previous version's answer is the best stale one there is.
//
// Redis writes are asynchronous (queued, batched into pipelines by one
// goroutine, dropped when the queue is full or the Redis breaker open):
// a model answer never waits on them. Redis is read only on the fallback
// path, for rows the process does not remember, in one MGET (a pipeline
// of GETs on a cluster, whose MGET cannot span slots). Writes are
// pipelined SETs, one key each.
//
//	key   {prefix}lg:{model}:{entity key}
//	value 8 bytes, the float64 little-endian; expires after LastGoodTTL
type lastGood struct {
	c *ristretto.Cache[string, float64]

	rdb    redis.UniversalClient // nil: in process only
	single bool                  // rdb is one node: a read is one MGET
	br     *guard                // the feature Redis'
	prefix string
	ttl    time.Duration
	log    *slog.Logger
	st     *stats

	writes *batch.Loop[lgWrite] // nil: no Redis copy
	// queued and settled (written or dropped) count Redis writes, for wait.
	queued, settled atomic.Uint64
}

type lgWrite struct {
	key string
	v   float64
}

const (
	lgQueue       = 4096
	lgBatch       = 256
	lgRedisWrites = 100 * time.Millisecond // one pipeline of writes
)

func newLastGood(rdb redis.UniversalClient, br *guard, cfg *Config, log *slog.Logger, st *stats) (*lastGood, error) {
	c, err := ristretto.NewCache(&ristretto.Config[string, float64]{
		NumCounters: 10 * cfg.LastGoodEntries, MaxCost: cfg.LastGoodEntries, BufferItems: 64,
	})
	if err != nil {
		return nil, fmt.Errorf("cannot create last-good cache: %w", err)
	}
	l := &lastGood{c: c, rdb: rdb, single: redisconn.SingleNode(rdb), br: br, prefix: cfg.KeyPrefix + "lg:", ttl: cfg.LastGoodTTL, log: log, st: st}
	if rdb != nil && l.ttl > 0 {
		l.writes = batch.Start(batch.Config{Queue: lgQueue, Max: lgBatch}, l.flush)
	}
	return l, nil
}

func lgKey(model, entity string) string { return model + ":" + entity }

// set remembers v; the Redis copy follows asynchronously.
func (l *lastGood) set(model, entity string, v float64) {
	k := lgKey(model, entity)
	l.c.Set(k, v, 1)
	if l.writes == nil {
		return
	}
	l.queued.Add(1)
	if !l.writes.Offer(lgWrite{key: k, v: v}) {
		l.st.lastGoodDrops.Add(1)
		l.settled.Add(1)
	}
}

func (l *lastGood) get(model, entity string) (float64, bool) { return l.c.Get(lgKey(model, entity)) }

// fetch reads the Redis copies of entities' last good predictions, by
// ctx's deadline (and at most timeout); ok[i] false: none.
func (l *lastGood) fetch(ctx context.Context, timeout time.Duration, model string, entities []string) (vals []float64, ok []bool) {
	vals, ok = make([]float64, len(entities)), make([]bool, len(entities))
	if l.writes == nil || len(entities) == 0 || ctx.Err() != nil {
		// No time left is the request's, not Redis' failure: no call.
		return vals, ok
	}
	done, err := l.br.allow()
	if err != nil {
		return vals, ok
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	keys := make([]string, len(entities))
	for i, e := range entities {
		keys[i] = l.prefix + lgKey(model, e)
	}
	var res []any
	if l.single {
		if res, err = l.rdb.MGet(ctx, keys...).Result(); err != nil {
			res = nil
		}
		done(redisconn.Failure(err))
	} else {
		var cmds []redis.Cmder
		res, cmds, err = l.mgetCluster(ctx, keys)
		done(redisconn.PipelineFailure(cmds, err))
	}
	if res == nil {
		return vals, ok
	}
	for i, x := range res {
		if s, isStr := x.(string); isStr && len(s) == 8 {
			vals[i], ok[i] = math.Float64frombits(binary.LittleEndian.Uint64([]byte(s))), true
		}
	}
	return vals, ok
}

// mgetCluster is MGET as a pipeline of GETs: Redis Cluster's MGET cannot
// span slots. A key whose GET failed reads as missing: the shards that
// answered still serve theirs.
func (l *lastGood) mgetCluster(ctx context.Context, keys []string) ([]any, []redis.Cmder, error) {
	cmds, err := l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.Get(ctx, k)
		}
		return nil
	})
	out := make([]any, len(keys))
	for i, c := range cmds {
		if g, isGet := c.(*redis.StringCmd); isGet && g.Err() == nil {
			out[i] = g.Val()
		}
	}
	return out, cmds, err
}

// flush stores a batch of queued writes (l.writes') in one pipeline.
func (l *lastGood) flush(writes []lgWrite) {
	defer l.settled.Add(uint64(len(writes)))
	done, err := l.br.allow()
	if err != nil {
		l.st.lastGoodDrops.Add(uint64(len(writes)))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), lgRedisWrites)
	defer cancel()
	cmds, err := l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, w := range writes {
			p.Set(ctx, l.prefix+w.key, binary.LittleEndian.AppendUint64(nil, math.Float64bits(w.v)), l.ttl)
		}
		return nil
	})
	done(redisconn.PipelineFailure(cmds, err))
	if err == nil {
		return
	}
	// Per command: on a cluster the shards that answered took theirs.
	failed := 0
	for _, c := range cmds {
		if c.Err() != nil {
			failed++
		}
	}
	if len(cmds) == 0 {
		failed = len(writes)
	}
	l.st.lastGoodDrops.Add(uint64(failed))
	l.log.Debug("features: cannot write last good predictions", "rows", failed, "err", err)
}

// wait makes earlier in-process sets visible (ristretto sets are
// asynchronous), and the Redis writes queued so far written or dropped.
func (l *lastGood) wait() {
	l.c.Wait()
	if l.writes == nil {
		return
	}
	want := l.queued.Load()
	for deadline := time.Now().Add(5 * time.Second); l.settled.Load() < want && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
}

func (l *lastGood) close() {
	if l.writes != nil {
		l.writes.Close()
	}
	l.c.Close()
}
