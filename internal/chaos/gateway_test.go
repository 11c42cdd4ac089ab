package chaos

import (
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/tiercel/tiercel/cache"
	"github.com/tiercel/tiercel/features"
	"github.com/tiercel/tiercel/gateway"
	"github.com/tiercel/tiercel/gateway/auth"
	"github.com/tiercel/tiercel/gateway/ratelimit"
	"github.com/tiercel/tiercel/gateway/upstream"
	"github.com/tiercel/tiercel/internal/breaker"
	"github.com/tiercel/tiercel/internal/redisconn"
	"github.com/tiercel/tiercel/invalidation"
)

// config is a replica's configuration: every dependency through its fault
// proxy, budgets at their defaults, and the timings that let a short run
// see breakers open and close.
func (e *env) config() gateway.Config {
	get := []string{"GET", "HEAD"}
	post := []string{"POST"}
	read := gateway.RouteAuth{Scopes: []string{"products:read"}}
	def := 0.5
	cfg := gateway.Config{
		// No drain delay: the generator sends to the replicas directly.
		Server: gateway.ServerConfig{Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:0", ShutdownTimeout: 5 * time.Second, DrainDelay: -1},
		Redis:  e.redisConfig(),
		Auth: auth.Config{
			// Short: tokens are verified again against the cached JWKS keys
			// while the JWKS endpoint is away, so the fault reaches the
			// request path. Not much shorter: RS256 costs milliseconds of
			// CPU under -race.
			CacheTTL: 500 * time.Millisecond,
			Issuers: []auth.IssuerConfig{{
				Name: "chaos", Issuer: issuer, Audiences: []string{"tiercel"}, Algorithms: []string{"RS256"},
				JWKSURL: "http://" + e.jwksP.Addr() + "/jwks.json", JWKSRefresh: 200 * time.Millisecond,
			}},
		},
		RateLimit: ratelimit.Config{
			// Two shared cores under -race: a healthy Redis round trip
			// through the fault proxy can take more than the 5ms default.
			RedisTimeout: 20 * time.Millisecond,
			Policies: map[string]ratelimit.Policy{
				"cluster": {Rate: 1e6, Burst: 1e6, Key: "subject", Cluster: true},
			},
		},
		Cache: cache.Config{
			// A few hundred entries: small tiers start and close fast
			// (ristretto clears its counters on Close, slow under -race).
			L1MaxBytes: 8 << 20,
			L2Timeout:  20 * time.Millisecond, // as RedisTimeout above
			Breaker:    breaker.Config{Cooldown: 200 * time.Millisecond},
		},
		Kafka: invalidation.Config{
			Endpoint: invalidation.Endpoint{Brokers: []string{e.kafka.Addr()}, Topic: topic, DialTimeout: 200 * time.Millisecond},
			MaxWait:  50 * time.Millisecond, MaxGap: time.Second,
		},
		Upstreams: []upstream.Config{{
			Name:        "catalog",
			Targets:     []string{e.originP[0].Addr(), e.originP[1].Addr()},
			DialTimeout: 50 * time.Millisecond,
			HealthCheck: upstream.HealthCheck{Interval: 200 * time.Millisecond},
			// Short cooldown: the breakers close again while the load still
			// runs, and the suite sees it.
			Breaker:    breaker.Config{Failures: 5, Cooldown: 300 * time.Millisecond},
			HedgeAfter: 30 * time.Millisecond,
		}},
		Features: features.Config{
			RowTTL:        entryTTL,
			RowCacheBytes: 4 << 20,
			// For the feature Redis and, by default, the http view and the
			// model server: closes while the load still runs.
			Breaker:  breaker.Config{Cooldown: 300 * time.Millisecond},
			Entities: []features.EntityConfig{{Name: "user", JoinKeys: []features.JoinKeyConfig{{Name: "user_id"}}}},
			Views: []features.ViewConfig{
				{Name: "stats", Entities: []string{"user"}, Features: []features.FeatureConfig{
					{Name: "clicks", Type: "int64", Default: 0},
					{Name: "ctr", Type: "float64", Default: 0.01},
				}},
				{Name: "profile", Entities: []string{"user"},
					Source: features.SourceConfig{Type: "http", URL: "http://" + e.featP.Addr() + "/get-online-features", TTL: entryTTL},
					Features: []features.FeatureConfig{
						{Name: "score", Type: "float64", Default: 0.5},
						{Name: "segment", Type: "string", Default: "unknown"},
					}},
			},
			Models: []features.ModelConfig{{
				Name: "churn", Version: "1", Inputs: []string{"stats:clicks", "profile:score"}, Default: &def, TTL: entryTTL,
				Backend: features.BackendConfig{Type: "oip", URL: "http://" + e.modelP.Addr()},
			}},
		},
		Routes: []gateway.RouteConfig{
			{Name: "products", Path: "/api/products/{id}", Methods: get, Upstream: "catalog", Auth: read, RateLimit: "cluster",
				Cache: gateway.RouteCache{Enabled: true, TTL: ttl(productTTL), StaleIfError: time.Hour, OverrideUpstream: true,
					Tags: []string{"product:{id}"}},
				Fallback: &gateway.RouteFallback{Body: `{"price":null,"fallback":true}`, Headers: map[string]string{"X-Fallback": "1"}}},
			// Items live long: read once through each replica, they are
			// L2 hits (the cluster fault's load).
			{Name: "items", Path: "/api/items/{id}", Methods: get, Upstream: "catalog", Auth: read, RateLimit: "cluster",
				Cache: gateway.RouteCache{Enabled: true, TTL: ttl(time.Hour), StaleIfError: time.Hour, OverrideUpstream: true,
					Tags: []string{"item:{id}"}},
				Fallback: &gateway.RouteFallback{Body: `{"item":null,"fallback":true}`, Headers: map[string]string{"X-Fallback": "1"}}},
			{Name: "quotes", Path: "/api/quotes/{id}", Methods: get, Upstream: "catalog", Auth: read, RateLimit: "cluster",
				Fallback: &gateway.RouteFallback{Body: `{"quote":null,"fallback":true}`}},
			{Name: "features", Path: "/v1/features", Methods: post, Handler: "features",
				Auth: gateway.RouteAuth{Scopes: []string{"features:read"}}, RateLimit: "cluster"},
			{Name: "push", Path: "/v1/push", Methods: post, Handler: "push",
				Auth: gateway.RouteAuth{Scopes: []string{"features:write"}}},
			{Name: "predict", Path: "/v1/models/{name}/predict", Methods: post, Handler: "predict",
				Auth: gateway.RouteAuth{Scopes: []string{"predict"}}, RateLimit: "cluster"},
		},
	}
	return cfg
}

func (e *env) startGateway() *gateway.Server {
	e.t.Helper()
	cfg := e.config()
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		e.t.Fatalf("config: %v", err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("CHAOS_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	srv, err := gateway.New(cfg, logger)
	if err != nil {
		e.t.Fatalf("cannot build the gateway: %v", err)
	}
	if err := srv.Start(); err != nil {
		e.t.Fatalf("cannot start the gateway: %v", err)
	}
	return srv
}

// redisConfig points the replicas at the world's Redis: through the fault
// proxy, or at a cluster's nodes.
func (e *env) redisConfig() gateway.RedisConfig {
	if e.cluster != nil {
		return gateway.RedisConfig{Mode: redisconn.ModeCluster, Addrs: e.cluster.Addrs()}
	}
	return gateway.RedisConfig{URL: "redis://" + e.redisP.Addr() + "/0"}
}

// ttl is a route's cache.ttl as the config holds it.
func ttl(d time.Duration) *time.Duration { return &d }
