package features

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tiercel/tiercel/cache"
)

// Options are a Store's dependencies, built by cmd/tiercel.
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
	reg   *registry
	rdb   redis.UniversalClient
	cache *cache.Tiered // shared: http views, predictions
	own   *cache.Tiered // non-nil when cache was made here
	rows  *cache.Tiered // L1 only: rows of redis and memory views
	mem   *memSource
	hc    *http.Client
	log   *slog.Logger
	st    stats
	lg    *lastGood

	// now replaces the wall clock in tests that walk rows past max_age.
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
	if s.hc == nil {
		s.hc = &http.Client{Transport: &http.Transport{
			MaxIdleConns: 256, MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second,
		}}
	}
	// Redis is these rows' L2 already: a copy in the cache's L2 would only
	// double the writes. Rows are small, hence many counters per byte.
	s.rows, err = cache.New(cache.Config{L1MaxBytes: reg.cfg.RowCacheBytes, L1Counters: reg.cfg.RowCacheBytes / 20}, nil, s.log)
	if err != nil {
		return nil, fmt.Errorf("cannot create row cache: %w", err)
	}
	if s.cache == nil {
		if s.own, err = cache.New(cache.Config{L1MaxBytes: 64 << 20}, nil, s.log); err != nil {
			s.rows.Close()
			return nil, fmt.Errorf("cannot create cache: %w", err)
		}
		s.cache = s.own
	}
	if s.lg, err = newLastGood(); err != nil {
		s.Close()
		return nil, err
	}
	if reg.cfg.SeedDemo {
		// A memory view: Push touches no network, the context is moot.
		if err := s.SeedDemo(context.Background()); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// Close stops the Store's own caches. Calls after Close fail or miss.
func (s *Store) Close() {
	s.rows.Close()
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
	s.rows.Wait()
	s.cache.Wait()
	s.lg.wait()
}

// Stats are the Store's counters, monotonic since New.
type Stats struct {
	Gets            uint64 // Get calls
	Values          uint64 // cells answered
	RowL1Hits       uint64 // rows served from L1 (redis, memory and http views)
	RowRedisReads   uint64 // rows asked from Redis
	RedisPipelines  uint64 // Redis pipelines sent by Get (at most one per Get)
	RedisFailures   uint64 // pipelines that failed or timed out
	UpstreamCalls   uint64 // batched calls to http views
	UpstreamErrors  uint64
	BadStoredValues uint64 // values in Redis or upstream answers not of the feature's type
	Incomplete      uint64 // Get results marked incomplete
	Pushes          uint64 // rows pushed
	Predictions     uint64 // prediction rows answered
	ModelCalls      uint64 // backend calls (one per Predict miss batch)
	ModelErrors     uint64
	PredCacheHits   uint64
	PredStale       uint64 // rows answered from the last good prediction
	PredDefault     uint64 // rows answered from the model's default
}

type stats struct {
	gets, values, rowL1Hits, rowRedisReads, redisPipelines, redisFailures atomic.Uint64
	upstreamCalls, upstreamErrors, badStoredValues, incomplete, pushes    atomic.Uint64
	predictions, modelCalls, modelErrors, predCacheHits, predStale        atomic.Uint64
	predDefault                                                           atomic.Uint64
}

// Stats returns a snapshot of the counters.
func (s *Store) Stats() Stats {
	st := &s.st
	return Stats{
		Gets: st.gets.Load(), Values: st.values.Load(), RowL1Hits: st.rowL1Hits.Load(),
		RowRedisReads: st.rowRedisReads.Load(), RedisPipelines: st.redisPipelines.Load(),
		RedisFailures: st.redisFailures.Load(), UpstreamCalls: st.upstreamCalls.Load(),
		UpstreamErrors: st.upstreamErrors.Load(), BadStoredValues: st.badStoredValues.Load(),
		Incomplete: st.incomplete.Load(), Pushes: st.pushes.Load(), Predictions: st.predictions.Load(),
		ModelCalls: st.modelCalls.Load(), ModelErrors: st.modelErrors.Load(),
		PredCacheHits: st.predCacheHits.Load(), PredStale: st.predStale.Load(), PredDefault: st.predDefault.Load(),
	}
}

// memSource is the in-process view store: hashes of Redis-encoded fields,
// exactly as Redis would hold them, so both share the read path.
type memSource struct {
	mu   sync.RWMutex
	rows map[string]map[string][]byte
}

func newMemSource() *memSource { return &memSource{rows: map[string]map[string][]byte{}} }

// hmget answers like Redis HMGET: nil for absent fields.
func (m *memSource) hmget(key string, fields []string, dst [][]byte) [][]byte {
	m.mu.RLock()
	defer m.mu.RUnlock()
	h := m.rows[key]
	for _, f := range fields {
		dst = append(dst, h[f])
	}
	return dst
}

func (m *memSource) hset(key string, kv map[string][]byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.rows[key]
	if h == nil {
		h = make(map[string][]byte, len(kv))
		m.rows[key] = h
	}
	for k, v := range kv {
		h[k] = v
	}
}
