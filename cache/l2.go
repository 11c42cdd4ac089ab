package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tiercel/tiercel/internal/batch"
	"github.com/tiercel/tiercel/internal/breaker"
	"github.com/tiercel/tiercel/internal/redisconn"
)

// Version fencing, L2 half. Redis holds, next to each entry, a generation
// per key (keyGenKey, in the entry's slot) and per tag ({prefix}tg:{tag}). Invalidation
// bumps them; an entry records the generations read before its fill started
// and is valid only while they are still current. Reading an entry and the
// current generations is one pipelined round trip, so invalidation costs
// O(1) per key or tag, and a fill that started before an invalidation is
// stored with outdated generations: written or not, it is never valid.
//
// Generation keys expire TombstoneTTL after their last bump, and no entry
// outlives its fill start by more than TombstoneTTL, so an entry that read a
// missing generation (0) is gone before that generation could vanish again.
// A generation created anew starts from the server's clock in microseconds
// rather than 1, so it can never repeat a value some live entry recorded
// before the key expired.
const bumpScript = bumpLua

// bumpLua bumps the generation KEYS[1] and renews its expiry (ARGV[1] ms).
const bumpLua = `
local v = redis.call('INCR', KEYS[1])
if v == 1 then
  local t = redis.call('TIME')
  redis.call('SET', KEYS[1], t[1] .. string.format('%06d', tonumber(t[2])))
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`

// errL2Skipped reports a read or write not attempted (breaker open, half-open
// probe already in flight, or queue full); it is not a Redis failure.
var errL2Skipped = errors.New("l2 skipped")

// l2 is the Redis tier. Reads go through the batcher (batch.go), writes
// through an asynchronous queue; both through one circuit breaker.
type l2 struct {
	rdb        redis.UniversalClient
	prefix     string
	timeout    time.Duration // one read round trip
	genTTL     time.Duration // TombstoneTTL, see the comment above
	invTimeout time.Duration
	batchMax   int
	// cb guards every round trip; a read checks its lock-free Open
	// before queueing.
	cb *breaker.Breaker

	q      *readQueue
	dones  donePool // l2Lookup.done channels
	timers *timerPool
	writes *batch.Loop[l2Write] // the asynchronous writer
	stop   <-chan struct{}
	st     *stats

	// mget: reads are one MGET per batch, possible on a single node only
	// (tests clear it to exercise the pipeline of GETs).
	mget bool

	// cluster is rdb on a Redis Cluster, nil otherwise.
	cluster *redis.ClusterClient
	// scriptOff: reads on the cluster are pipelines of GETs, not one script
	// per master (scriptread.go): Config.L2ClusterScripts is off, or Redis
	// refused the script.
	scriptOff atomic.Bool
	// scriptRetries counts lookups a script could not answer, read again
	// by GETs (a resharding, a failover).
	scriptRetries atomic.Uint64
	log           *slog.Logger
}

// l2Write is one asynchronous SET of an encoded entry.
type l2Write struct {
	key string
	val []byte
	ttl time.Duration
}

func newL2(cfg Config, rdb redis.UniversalClient, st *stats, timers *timerPool, log *slog.Logger, stop <-chan struct{}) *l2 {
	l := &l2{
		rdb:        rdb,
		prefix:     cfg.KeyPrefix,
		timeout:    cfg.L2Timeout,
		genTTL:     cfg.TombstoneTTL,
		invTimeout: cfg.InvalidateTimeout,
		batchMax:   cfg.L2BatchMax,
		q:          newReadQueue(cfg.L2QueueSize),
		stop:       stop,
		st:         st,
		timers:     timers,
		mget:       redisconn.SingleNode(rdb),
		log:        log,
	}
	l.cluster, _ = rdb.(*redis.ClusterClient)
	l.writes = batch.Start(batch.Config{Queue: cfg.L2QueueSize, Max: cfg.L2BatchMax}, l.writeBatch)
	l.scriptOff.Store(!cfg.L2ClusterScripts)
	l.cb = breaker.New(cfg.Breaker, breaker.Options{
		Name: "cache-l2",
		OnStateChange: func(from, to breaker.State) {
			log.Warn("cache l2 breaker", "from", from.String(), "to", to.String())
		},
	})
	return l
}

// Kinds of per-key names (appendKeyName).
const (
	entryKind  = "e:"
	keyGenKind = "kg:"
)

// entryKey and keyGenKey name key's entry and key generation: every place
// that names them goes through appendKeyName.
func (l *l2) entryKey(key []byte) string  { return l.keyName(entryKind, key) }
func (l *l2) keyGenKey(key []byte) string { return l.keyName(keyGenKind, key) }
func (l *l2) tagGenKey(tag string) string { return l.prefix + "tg:" + tag }

func (l *l2) keyName(kind string, key []byte) string {
	n := len(l.prefix) + len(kind) + slotTagLen + 2 + len(key)
	return bytesString(l.appendKeyName(make([]byte, 0, n), kind, keyTag(key), key))
}

// appendKeyName appends the Redis name of key's entry or key generation
// (kind): prefix, kind, "{" tag "}", key, where tag is keyTag(key). Both
// names carry the same hash tag, so they share a Cluster slot and a lookup
// reads them with one MGET whatever key holds: a brace in key comes after
// the tag, which Redis reads first. (A prefix with a hash tag of its own
// puts every name in its slot, which keeps them together too.)
func (l *l2) appendKeyName(dst []byte, kind string, tag, key []byte) []byte {
	dst = append(append(append(dst, l.prefix...), kind...), '{')
	return append(append(append(dst, tag...), '}'), key...)
}

// keyTag returns key's hash tag: the slot tag of CRC16 of the whole key,
// so that entries spread over every slot even when keys hold braces.
func keyTag(key []byte) []byte {
	s := int(crc16(key) % slotCount)
	return slotTags()[s*slotTagLen : (s+1)*slotTagLen]
}

// open reports whether the breaker currently forbids Redis calls, so that
// callers skip L2 without queueing.
func (l *l2) open() bool { return l.cb.Open() }

// exec runs one pipeline under the breaker and the timeout. The breaker
// reads its outcome as redisconn.Failure does (one rule for every breaker):
// a missing key or a data error proves Redis is there; a transport error, a
// timeout, or a reply saying the node cannot serve the key now (CROSSSLOT,
// MOVED not followed, CLUSTERDOWN, ...) is a failure. The error returned is
// that failure, or nil; each command keeps its own error.
func (l *l2) exec(timeout time.Duration, queue func(redis.Pipeliner)) ([]redis.Cmder, error) {
	var cmds []redis.Cmder
	err := l.do(timeout, func(ctx context.Context) error {
		pipe := l.rdb.Pipeline()
		queue(pipe)
		var err error
		cmds, err = pipe.Exec(ctx)
		return redisconn.PipelineFailure(cmds, err)
	})
	return cmds, err
}

// do runs call under the breaker and the timeout, reading its error like
// exec. It returns errL2Skipped when the breaker refused the call.
func (l *l2) do(timeout time.Duration, call func(context.Context) error) error {
	err := l.cb.Do(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		return redisconn.Failure(call(ctx))
	})
	if err == breaker.ErrOpen {
		return errL2Skipped
	}
	return err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// count records a failed read or write in the matching counter.
func (l *l2) count(err error) {
	switch {
	case errors.Is(err, errL2Skipped):
		l.st.l2Skipped.Add(1)
	case isTimeout(err):
		l.st.l2Timeouts.Add(1)
	default:
		l.st.l2Errors.Add(1)
	}
}

// enqueueWrite queues an asynchronous SET; it never blocks.
func (l *l2) enqueueWrite(w l2Write) {
	if l.open() {
		l.st.l2WriteDrops.Add(1)
		return
	}
	if !l.writes.Offer(w) {
		l.st.l2WriteDrops.Add(1)
	}
}

// writeBatch stores a batch of queued writes (l.writes') in one pipeline.
// Writes are off the request path, so they get a more generous deadline
// than reads.
func (l *l2) writeBatch(writes []l2Write) {
	_, err := l.exec(max(10*l.timeout, 50*time.Millisecond), func(p redis.Pipeliner) {
		ctx := context.Background()
		for _, w := range writes {
			p.Set(ctx, w.key, w.val, w.ttl)
		}
	})
	if err != nil {
		l.count(err)
		l.st.l2WriteDrops.Add(uint64(len(writes)))
		return
	}
	l.st.l2Writes.Add(uint64(len(writes)))
}

// invalidate bumps the generations of keys and tags (and deletes the keys'
// entries to free memory early). With an event id, each bump happens once
// per id (once.go). It returns how many bumps are in effect.
func (l *l2) invalidate(ctx context.Context, id string, keys [][]byte, tags []string) (int, error) {
	if l.open() {
		return 0, fmt.Errorf("cannot invalidate in l2: %w: breaker open", ErrL2Unavailable)
	}
	timeout := l.invTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(d))
	}
	ttl := strconv.FormatInt(l.genTTL.Milliseconds(), 10)
	bumps := make([]*redis.Cmd, 0, len(keys)+len(tags))
	_, err := l.exec(timeout, func(p redis.Pipeliner) {
		for _, k := range keys {
			bumps = append(bumps, l.queueBump(ctx, p, l.keyGenKey(k), id, ttl))
			if id == "" {
				p.Del(ctx, l.entryKey(k))
			}
		}
		for _, t := range tags {
			bumps = append(bumps, l.queueBump(ctx, p, l.tagGenKey(t), id, ttl))
		}
	})
	if errors.Is(err, errL2Skipped) {
		return 0, fmt.Errorf("cannot invalidate in l2: %w: breaker half-open", ErrL2Unavailable)
	}
	n := 0
	var bumped [][]byte
	for i, c := range bumps {
		v, cerr := c.Int64()
		if cerr != nil {
			continue
		}
		n++
		switch {
		case v == 0:
			l.st.l2Deduped.Add(1)
		case id != "" && i < len(keys):
			bumped = append(bumped, keys[i])
		}
	}
	if err == nil && n < len(bumps) {
		err = errors.New("generation bump failed")
	}
	if err != nil {
		l.count(err)
		return n, fmt.Errorf("cannot invalidate in l2: %w", err)
	}
	l.deleteEntries(timeout, bumped)
	return n, nil
}
