package features

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tiercel/tiercel/cache"
	"github.com/tiercel/tiercel/internal/redisconn"
)

// Options are a Store's dependencies, built by the gateway from the
// components it shares (gateway/generation.go).
type Options struct {
	// Redis holds the redis views and is where Push writes them. It should
	// have ContextTimeoutEnabled, or a hung Redis holds a Get past its
	// deadline. Nil: redis views answer NOT_FOUND/DEFAULT (marked
	// incomplete) and Push to them fails.
	Redis redis.UniversalClient

	// Cache is the shared two-tier cache: http views and predictions live
	// in it. Nil: the Store makes an L1-only one of its own.
	Cache *cache.Tiered

	// HTTPClient calls feature upstreams and model servers. Nil: a client
	// with keep-alive pools sized for a gateway.
	HTTPClient *http.Client

	Logger *slog.Logger
}

// Store answers feature lookups, pushes and predictions over a registry.
// All methods are safe for concurrent use.
type Store struct {
	reg     *registry
	rdb     redis.UniversalClient
	single  bool          // rdb is one node: a read is one MGET
	redisBr *guard        // guards rdb
	cache   *cache.Tiered // shared: http views, predictions
	own     *cache.Tiered // non-nil when cache was made here
	rows    *rowCache     // L1 of the rows of redis and memory views
	mem     *memSource
	hc      *http.Client
	log     *slog.Logger
	st      stats
	lg      *lastGood

	// now replaces the wall clock in tests that walk rows past max_age.
	// Budgets and deadlines always use the wall clock.
	now func() time.Time
}

// New validates cfg and returns a Store. Close releases it.
func New(cfg Config, opts Options) (*Store, error) {
	reg, err := compile(cfg)
	if err != nil {
		return nil, err
	}
	if len(reg.views) == 0 && len(reg.models) == 0 {
		// Only a config that routes requests here creates a Store: with
		// nothing to serve, every request would fail, so fail at start.
		return nil, errors.New("nothing to serve: the features section declares no views and no models")
	}
	s := &Store{reg: reg, rdb: opts.Redis, cache: opts.Cache, hc: opts.HTTPClient, log: opts.Logger,
		mem: newMemSource(), now: time.Now}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.single = redisconn.SingleNode(s.rdb)
	s.redisBr = newGuard("features:redis", reg.cfg.Breaker, s.log)
	for _, v := range reg.viewList {
		if v.source == sourceHTTP {
			v.br = newGuard("view:"+v.name, v.breakerCfg, s.log)
		}
	}
	for _, m := range reg.models {
		if m.backend == backendOIP {
			m.br = newGuard("model:"+m.name, m.breakerCfg, s.log)
		}
	}
	if s.hc == nil {
		s.hc = &http.Client{Transport: &http.Transport{
			MaxIdleConns: 256, MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second,
		}}
	}
	if s.rows, err = newRowCache(reg.cfg.RowCacheBytes); err != nil {
		return nil, err
	}
	if s.cache == nil {
		if s.own, err = cache.New(cache.Config{L1MaxBytes: 64 << 20}, nil, s.log); err != nil {
			s.rows.close()
			return nil, fmt.Errorf("cannot create cache: %w", err)
		}
		s.cache = s.own
	}
	if s.lg, err = newLastGood(s.rdb, s.redisBr, &reg.cfg, s.log, &s.st); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// MaxEntities is the most rows one request or Push may carry
// (max_entities): a bulk writer pushes in batches of it.
func (s *Store) MaxEntities() int { return s.reg.cfg.MaxEntities }

// Close stops the Store's own caches. Calls after Close fail or miss.
func (s *Store) Close() {
	s.rows.close()
	if s.own != nil {
		s.own.Close()
	}
	if s.lg != nil {
		s.lg.close()
	}
}

// Wait blocks until the cache writes issued so far (rows, predictions,
// last good predictions) are visible: they are asynchronous and tests that
// read their own writes must wait for them.
func (s *Store) Wait() {
	s.rows.wait()
	s.cache.Wait()
	s.lg.wait()
}

// Stats are the Store's counters, monotonic since New.
type Stats struct {
	Gets           uint64 // Get calls
	Values         uint64 // cells answered
	RowL1Hits      uint64 // rows served from L1 (redis, memory and http views)
	RowRedisReads  uint64 // rows asked from Redis
	RedisPipelines uint64 // Redis pipelines sent by Get (at most one per Get)
	// RedisFailures counts the pipelines among RedisPipelines that failed:
	// not answered in time (or at all), or with a row the cluster could
	// not serve (MOVED not followed, CLUSTERDOWN, ...). At most one per
	// pipeline, so never more than RedisPipelines.
	RedisFailures uint64
	// RowErrors counts rows whose reply was an error (a key of another
	// type: WRONGTYPE; on a cluster a slot that moved), answered by their
	// fallback. Per row, not per pipeline: counted apart from both above.
	RowErrors       uint64
	UpstreamCalls   uint64 // batched calls to http views
	UpstreamErrors  uint64
	BadStoredValues uint64 // values in Redis or upstream answers not of the feature's type
	BadStoredRows   uint64 // Redis values at a row's key that are no stored row
	Incomplete      uint64 // Get results marked incomplete
	Pushes          uint64 // rows pushed
	Predictions     uint64 // prediction rows answered
	ModelCalls      uint64 // backend calls (one per Predict miss batch)
	ModelErrors     uint64
	PredCacheHits   uint64
	PredModel       uint64 // rows the model answered just now
	PredStale       uint64 // rows answered from the last good prediction
	PredDefault     uint64 // rows answered from the model's default
	LastGoodDrops   uint64 // last good predictions not written to Redis (queue full, Redis failing)
}

type stats struct {
	gets, values, rowL1Hits, rowRedisReads, redisPipelines, redisFailures atomic.Uint64
	upstreamCalls, upstreamErrors, badStoredValues, incomplete, pushes    atomic.Uint64
	predictions, modelCalls, modelErrors, predCacheHits, predStale        atomic.Uint64
	predDefault, badStoredRows, lastGoodDrops, predModel, rowErrors       atomic.Uint64
}

// Stats returns a snapshot of the counters.
func (s *Store) Stats() Stats {
	st := &s.st
	return Stats{
		Gets: st.gets.Load(), Values: st.values.Load(), RowL1Hits: st.rowL1Hits.Load(),
		RowRedisReads: st.rowRedisReads.Load(), RedisPipelines: st.redisPipelines.Load(),
		RedisFailures: st.redisFailures.Load(), RowErrors: st.rowErrors.Load(), UpstreamCalls: st.upstreamCalls.Load(),
		UpstreamErrors: st.upstreamErrors.Load(), BadStoredValues: st.badStoredValues.Load(),
		BadStoredRows: st.badStoredRows.Load(),
		Incomplete:    st.incomplete.Load(), Pushes: st.pushes.Load(), Predictions: st.predictions.Load(),
		ModelCalls: st.modelCalls.Load(), ModelErrors: st.modelErrors.Load(),
		PredCacheHits: st.predCacheHits.Load(), PredModel: st.predModel.Load(), PredStale: st.predStale.Load(), PredDefault: st.predDefault.Load(),
		LastGoodDrops: st.lastGoodDrops.Load(),
	}
}

// memSource is the in-process view store: stored rows (storedrow.go),
// exactly as Redis would hold them, so both share the read path.
type memSource struct {
	mu   sync.RWMutex
	rows map[string][]byte
}

func newMemSource() *memSource { return &memSource{rows: map[string][]byte{}} }

// get returns key's stored row (nil: none). It is never modified after.
func (m *memSource) get(key string) []byte {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.rows[key]
}

// merge writes a partial stored row over key's, as mergeLua does in Redis.
func (m *memSource) merge(key string, row []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rows[key] = mergeStored(m.rows[key], row)
}
