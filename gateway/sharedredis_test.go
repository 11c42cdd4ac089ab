package gateway

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tiercel/tiercel/internal/redisconn"
	"github.com/tiercel/tiercel/internal/testredis"
)

// sharedRedis is the Redis that a test's replicas share: a redis-server of
// the test's own, or the package's Redis Cluster (issue 15), emptied for
// the test. The two-replica tests run on both (onEachRedis).
type sharedRedis struct {
	config RedisConfig
	// client reads what the replicas wrote, on every master.
	client redis.UniversalClient
	// server is the single node, for fault injection; nil on the cluster,
	// which is shared and must not be hurt.
	server  *testredis.Server
	cluster *testredis.Cluster
}

func singleRedis(t *testing.T) *sharedRedis {
	t.Helper()
	s := testredis.Start(t)
	return &sharedRedis{config: RedisConfig{URL: s.URL()}, client: s.Client(), server: s}
}

// clusterRedis is the package's cluster, flushed: cluster tests run one at
// a time (none calls t.Parallel).
func clusterRedis(t *testing.T) *sharedRedis {
	t.Helper()
	c := testCluster.Get(t)
	c.Flush()
	return &sharedRedis{
		config:  RedisConfig{Mode: redisconn.ModeCluster, Addrs: c.Addrs()},
		client:  c.Client(),
		cluster: c,
	}
}

// onEachRedis runs f as two subtests: "single" on a redis-server and
// "cluster" on the Redis Cluster.
func onEachRedis(t *testing.T, f func(t *testing.T, r *sharedRedis)) {
	t.Run("single", func(t *testing.T) { f(t, singleRedis(t)) })
	t.Run("cluster", func(t *testing.T) { f(t, clusterRedis(t)) })
}

// use points the config at r, then runs mutate: the route helpers
// (cachedRoutes and the like) given no URL keep it.
func (r *sharedRedis) use(mutate func(*Config)) func(*Config) {
	return func(c *Config) {
		c.Redis = r.config
		if mutate != nil {
			mutate(c)
		}
	}
}

// keys returns the keys matching pattern on every master: a cluster
// client's KEYS asks one node only.
func (r *sharedRedis) keys(t *testing.T, pattern string) []string {
	t.Helper()
	byNode := r.keysByMaster(t, pattern)
	var all []string
	for _, ks := range byNode {
		all = append(all, ks...)
	}
	slices.Sort(all)
	return all
}

// keysByMaster returns the keys matching pattern per master address.
func (r *sharedRedis) keysByMaster(t *testing.T, pattern string) map[string][]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out := map[string][]string{}
	var mu sync.Mutex
	collect := func(ctx context.Context, c *redis.Client) error {
		ks, err := c.Keys(ctx, pattern).Result()
		mu.Lock()
		out[c.Options().Addr] = append(out[c.Options().Addr], ks...)
		mu.Unlock()
		return err
	}
	var err error
	switch c := r.client.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, collect)
	case *redis.Client:
		err = collect(ctx, c)
	}
	if err != nil {
		t.Fatalf("cannot list the keys %s: %v", pattern, err)
	}
	return out
}
