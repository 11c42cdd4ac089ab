package features

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tiercel/tiercel/cache"
	"github.com/tiercel/tiercel/internal/testredis"
)

// clock is a controllable time source: tests walk rows past max_age by
// advancing it, never by sleeping.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.UnixMilli(1_700_000_000_000)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testRegistry: a user entity, a redis view with every type, a memory view.
func testRegistry() Config {
	return Config{
		Entities: []EntityConfig{
			{Name: "user", JoinKeys: []JoinKeyConfig{{Name: "user_id"}}},
			{Name: "item", JoinKeys: []JoinKeyConfig{{Name: "item_id", Type: "int64"}}},
		},
		Views: []ViewConfig{{
			Name: "user_stats", Entities: []string{"user"}, MaxAge: time.Hour,
			Features: []FeatureConfig{
				{Name: "clicks_7d", Type: "int64", Default: 0},
				{Name: "ctr_7d", Type: "float64"},
				{Name: "country", Type: "string"},
				{Name: "is_premium", Type: "bool"},
				{Name: "tags", Type: "list<string>"},
				{Name: "embedding", Type: "float32_vector[4]"},
			},
		}, {
			Name: "item_stats", Entities: []string{"item"}, Source: SourceConfig{Type: "memory"},
			Features: []FeatureConfig{{Name: "price", Type: "float64"}},
		}},
		Services: []FeatureServiceConfig{{Name: "svc", Features: []string{"user_stats:clicks_7d", "user_stats:country"}}},
	}
}

// redisClient connects the way production should: socket I/O bounded by
// churnRegistry is the embedded demo's registry (internal/demo's
// demo.yaml): a user_stats view of the given source and a builtin logistic
// churn model over it.
func churnRegistry(source string) Config {
	zero, half := 0, 0.5
	inputs := []string{"user_stats:clicks_7d", "user_stats:ctr_7d", "user_stats:is_premium", "user_stats:embedding"}
	return Config{
		Entities: []EntityConfig{{Name: "user", JoinKeys: []JoinKeyConfig{{Name: "user_id", Type: "string"}}}},
		Views: []ViewConfig{{
			Name: "user_stats", Entities: []string{"user"}, MaxAge: 7 * 24 * time.Hour,
			Source: SourceConfig{Type: source},
			Features: []FeatureConfig{
				{Name: "clicks_7d", Type: "int64", Default: zero},
				{Name: "ctr_7d", Type: "float64", Default: 0.0},
				{Name: "country", Type: "string"},
				{Name: "is_premium", Type: "bool", Default: false},
				{Name: "embedding", Type: "float32_vector[8]"},
			},
		}},
		Services: []FeatureServiceConfig{{Name: "churn_inputs", Features: inputs}},
		Models: []ModelConfig{{
			Name: "churn", Version: "1", Inputs: inputs, Default: &half,
			Backend: BackendConfig{Type: "builtin", Kind: "logistic", Weights: &Weights{
				Bias:    0.3,
				Weights: []float64{-0.02, -4, -1.2, 0.3, -0.2, 0.1, 0.05, -0.15, 0.25, -0.1, 0.2},
			}},
		}},
	}
}

// the context's deadline.
func redisClient(t testing.TB, srv *testredis.Server) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	return c
}

// pipeCounter counts pipelines and commands through a go-redis hook.
type pipeCounter struct {
	pipelines, cmds atomic.Int64
}

func (h *pipeCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *pipeCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.cmds.Add(1)
		return next(ctx, cmd)
	}
}
func (h *pipeCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.pipelines.Add(1)
		h.cmds.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

type env struct {
	s   *Store
	clk *clock
	srv *testredis.Server
	rdb *redis.Client
	hc  *pipeCounter
	c   *cache.Tiered
}

// newEnv starts redis-server and a Store over cfg.
func newEnv(t testing.TB, cfg Config) *env {
	t.Helper()
	srv := testredis.Start(t)
	rdb := redisClient(t, srv)
	hc := &pipeCounter{}
	rdb.AddHook(hc)
	c, err := cache.New(cache.Config{L1MaxBytes: 16 << 20, L2Timeout: 200 * time.Millisecond}, rdb, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if cfg.RedisTimeout == 0 {
		cfg.RedisTimeout = time.Second // generous: -race on a loaded machine
	}
	s, err := New(cfg, Options{Redis: rdb, Cache: c})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	clk := newClock()
	s.now = clk.Now
	return &env{s: s, clk: clk, srv: srv, rdb: rdb, hc: hc, c: c}
}

func raw(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func mustQuery(t testing.TB, s *Store, refs, keys []string, rows [][]string) *Query {
	t.Helper()
	q, err := s.NewQuery(refs, keys, rows)
	if err != nil {
		t.Fatalf("NewQuery: %v", err)
	}
	return q
}

func mustGet(t testing.TB, s *Store, q *Query) *Result {
	t.Helper()
	res, err := s.Get(context.Background(), q)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	t.Cleanup(res.Release)
	return res
}

// newCache is a second cache instance on env's Redis: another replica.
func newCache(t testing.TB, e *env) *cache.Tiered {
	t.Helper()
	c, err := cache.New(cache.Config{L1MaxBytes: 16 << 20, L2Timeout: 200 * time.Millisecond}, e.rdb, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// fault makes a loopback test server misbehave on demand, as a dependency
// does: answer 5xx, hang until the client gives up, or answer late.
type fault struct {
	mode    atomic.Int32
	release chan struct{} // closed when the test ends: hung handlers return
}

const (
	faultNone int32 = iota
	fault5xx
	faultHang
	faultSlow // 200ms late
)

func newFault() *fault { return &fault{release: make(chan struct{})} }

// releaseAtCleanup lets hung handlers return when the test ends; register
// it after the server's Close, which waits for them (cleanups run last
// registered first).
func (f *fault) releaseAtCleanup(t testing.TB) { t.Cleanup(func() { close(f.release) }) }

// apply runs the fault; true: the request is answered.
func (f *fault) apply(w http.ResponseWriter, r *http.Request) bool {
	switch f.mode.Load() {
	case fault5xx:
		http.Error(w, "down", http.StatusInternalServerError)
		return true
	case faultHang:
		select {
		case <-r.Context().Done():
		case <-f.release:
		}
		return true
	case faultSlow:
		t := time.NewTimer(200 * time.Millisecond)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return true
		case <-f.release:
		}
	}
	return false
}
