package chaos

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tiercel/tiercel/cache"
	"github.com/tiercel/tiercel/features"
	"github.com/tiercel/tiercel/gateway"
	"github.com/tiercel/tiercel/gateway/auth"
	"github.com/tiercel/tiercel/gateway/ratelimit"
	"github.com/tiercel/tiercel/gateway/upstream"
	"github.com/tiercel/tiercel/internal/testkafka"
	"github.com/tiercel/tiercel/internal/testredis"
	"github.com/tiercel/tiercel/invalidation"
)

const (
	issuer    = "https://issuer.chaos"
	kid       = "chaos-1"
	topic     = "tiercel.invalidations"
	warmUsers = 8 // users whose features and predictions are warmed
	warmKeys  = 4 // products warmed on both replicas
	// entryTTL is the freshness of feature rows and predictions, and
	// productTTL of products: short, so that entries expire while a fault
	// is on and the ladder below "fresh" is exercised. Products live a
	// little longer so that, at the suite's rates, a key refreshed by one
	// replica is often still fresh in Redis when the other one needs it:
	// the HIT-L2 answers that show the shared tier at work.
	entryTTL   = 200 * time.Millisecond
	productTTL = 500 * time.Millisecond
)

// fixture is what every fault's environment shares: RSA keys are slow to
// make, especially under the race detector.
type fixture struct {
	key, rogue *rsa.PrivateKey // rogue signs with a kid the JWKS never lists
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	k1, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{key: k1, rogue: k2}
}

// token signs an RS256 token for subject with every scope the routes need.
func (fx *fixture) token(t testing.TB, key *rsa.PrivateKey, kid, subject string) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": issuer, "aud": "tiercel", "sub": subject,
		"scope": "products:read features:read features:write predict",
		"iat":   time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
	})
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// scope collects the cleanups of one fault's run, so that a run's world
// is torn down when the run ends rather than with the test: a fault run
// twice never has two worlds alive at once.
type scope struct {
	testing.TB
	mu  sync.Mutex
	fns []func()
}

func newScope(t testing.TB) *scope { return &scope{TB: t} }

// Cleanup registers f to run, last in first out, at close.
func (s *scope) Cleanup(f func()) {
	s.mu.Lock()
	s.fns = append(s.fns, f)
	s.mu.Unlock()
}

func (s *scope) close() {
	s.mu.Lock()
	fns := s.fns
	s.fns = nil
	s.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
}

// env is one fault's world: real dependencies, each behind a fault proxy
// (Kafka is stopped and restarted instead), and two gateway replicas that
// share Redis, the way a deployment does.
type env struct {
	t  testing.TB
	fx *fixture

	redis   *testredis.Server
	kafka   *testkafka.Cluster
	origins [2]*origin
	feats   *featureServer
	model   *modelServer

	redisP, featP, modelP, jwksP *Proxy
	originP                      [2]*Proxy

	gws    [2]*gateway.Server
	bases  []string
	admins []string
	http   *http.Client
}

func newEnv(t testing.TB, fx *fixture) *env {
	t.Helper()
	e := &env{t: t, fx: fx, http: &http.Client{Timeout: 5 * time.Second}}
	e.redis = testredis.Start(t)
	e.kafka = testkafka.Start(t, testkafka.Topic(topic, 2))
	e.redisP = e.proxy("redis", e.redis.Addr)
	for i := range e.origins {
		e.origins[i] = &origin{name: fmt.Sprintf("origin-%d", i)}
		e.originP[i] = e.proxy(e.origins[i].name, serve(t, e.origins[i]))
	}
	e.feats = &featureServer{}
	e.featP = e.proxy("features", serve(t, e.feats))
	e.model = &modelServer{}
	e.modelP = e.proxy("model", serve(t, e.model))
	e.jwksP = e.proxy("jwks", serve(t, newJWKSServer(t, kid, fx.key)))
	t.Cleanup(e.shutdown) // before the dependencies' cleanups run
	for i := range e.gws {
		e.gws[i] = e.startGateway()
		e.bases = append(e.bases, "http://"+e.gws[i].Addr())
		e.admins = append(e.admins, "http://"+e.gws[i].AdminAddr())
	}
	return e
}

// shutdown stops the replicas side by side: each takes a while (it drains,
// closes the Kafka consumer and clears its caches), and they are
// independent.
func (e *env) shutdown() {
	var wg sync.WaitGroup
	for _, g := range e.gws {
		if g == nil {
			continue
		}
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := g.Shutdown(ctx); err != nil {
				e.t.Errorf("gateway shutdown: %v", err)
			}
		})
	}
	wg.Wait()
	e.http.CloseIdleConnections()
}

func (e *env) proxy(name, upstream string) *Proxy {
	e.t.Helper()
	p, err := NewProxy(name, upstream)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(p.Close)
	return p
}

func (e *env) config() gateway.Config {
	get := []string{"GET", "HEAD"}
	post := []string{"POST"}
	read := gateway.RouteAuth{Scopes: []string{"products:read"}}
	def := 0.5
	cfg := gateway.Config{
		Server: gateway.ServerConfig{Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:0", ShutdownTimeout: 5 * time.Second},
		Redis:  gateway.RedisConfig{URL: "redis://" + e.redisP.Addr() + "/0"},
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
			Breaker:    cache.BreakerConfig{Cooldown: 200 * time.Millisecond},
		},
		Kafka: invalidation.Config{
			Brokers: []string{e.kafka.Addr()}, Topic: topic,
			MaxWait: 50 * time.Millisecond, MaxGap: time.Second, DialTimeout: 200 * time.Millisecond,
		},
		Upstreams: []upstream.Config{{
			Name:        "catalog",
			Targets:     []string{e.originP[0].Addr(), e.originP[1].Addr()},
			DialTimeout: 50 * time.Millisecond,
			HealthCheck: upstream.HealthCheck{Interval: 200 * time.Millisecond},
			// Short cooldown: the breakers close again while the load still
			// runs, and the suite sees it.
			Breaker:    upstream.BreakerConfig{Failures: 5, Cooldown: 300 * time.Millisecond},
			HedgeAfter: 30 * time.Millisecond,
		}},
		Features: features.Config{
			RowTTL:        entryTTL,
			RowCacheBytes: 4 << 20,
			// For the feature Redis and, by default, the http view and the
			// model server: closes while the load still runs.
			Breaker:  features.BreakerConfig{Cooldown: 300 * time.Millisecond},
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
				Cache: gateway.RouteCache{Enabled: true, TTL: productTTL, StaleIfError: time.Hour, OverrideUpstream: true,
					Tags: []string{"product:{id}"}},
				Fallback: &gateway.RouteFallback{Body: `{"price":null,"fallback":true}`, Headers: map[string]string{"X-Fallback": "1"}}},
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

// readiness is the /readyz document of replica i.
type readiness struct {
	Status string `json:"status"`
	Checks map[string]struct {
		Status string          `json:"status"`
		Detail json.RawMessage `json:"detail"`
	} `json:"checks"`
}

func (e *env) readyz(i int) (readiness, error) {
	var rd readiness
	resp, err := e.http.Get(e.admins[i] + "/readyz")
	if err != nil {
		return rd, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&rd)
	return rd, err
}

// openTargets lists the targets of an upstream check whose breaker is
// open, from the check's detail (field names matched case-insensitively).
func (rd readiness) openTargets(check string) []string {
	var targets []struct {
		Addr    string
		Breaker string
	}
	_ = json.Unmarshal(rd.Checks[check].Detail, &targets)
	var out []string
	for _, t := range targets {
		if t.Breaker == "open" {
			out = append(out, t.Addr)
		}
	}
	return out
}

// notOK lists the checks of replica i that are not ok, with their status.
func (rd readiness) notOK() []string {
	var out []string
	for name, c := range rd.Checks {
		if c.Status != "ok" {
			out = append(out, name+"="+c.Status)
		}
	}
	return out
}

// do sends one request to replica i and returns status and body.
func (e *env) do(i int, method, path, token, body string) (int, http.Header, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.bases[i]+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := e.http.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// warm fills both replicas' caches and the models' last good predictions.
func (e *env) warm(token string) {
	e.t.Helper()
	e.seedUntil(token, 10*time.Second)
	for i := range e.gws {
		for k := range warmKeys {
			if st, _, body := e.do(i, "GET", fmt.Sprintf("/api/products/%d", k), token, ""); st != 200 {
				e.t.Fatalf("warming product %d on replica %d: %d %s", k, i, st, body)
			}
		}
		for u := range warmUsers {
			if st, _, body := e.do(i, "POST", "/v1/features", token, featuresBody(fmt.Sprintf("u%d", u))); st != 200 {
				e.t.Fatalf("warming features of u%d on replica %d: %d %s", u, i, st, body)
			}
			if st, _, body := e.do(i, "POST", "/v1/models/churn/predict", token, predictBody(fmt.Sprintf("u%d", u))); st != 200 || !strings.Contains(body, `"source":"model"`) && !strings.Contains(body, `"source":"cache"`) {
				e.t.Fatalf("warming the prediction of u%d on replica %d: %d %s", u, i, st, body)
			}
		}
	}
}

// waitReady polls every replica's /readyz until it says ready.
func (e *env) waitReady(within time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for i := range e.gws {
		for {
			rd, err := e.readyz(i)
			if err == nil && rd.Status == "ready" {
				break
			}
			if time.Now().After(deadline) {
				e.t.Fatalf("replica %d not ready after %s: %v %s %v", i, within, err, rd.Status, rd.notOK())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// publish produces one invalidation event with kcat, an independent Kafka
// client, and waits for the broker's acknowledgement.
func (e *env) publish(id, tag string) {
	e.t.Helper()
	ev := fmt.Sprintf(`{"version":1,"id":%q,"type":"invalidate","tags":[%q],"ts":%q}`, id, tag, time.Now().UTC().Format(time.RFC3339Nano))
	testkafka.Kcat(e.t, e.kafka.Addr(), topic, tag, []byte(ev))
}

// metric returns the sum of every sample of a metric family on replica i
// whose line starts with prefix (name and optional labels).
func (e *env) metric(i int, prefix string) (float64, bool) {
	resp, err := e.http.Get(e.admins[i] + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var sum float64
	found := false
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v); err == nil {
			sum += v
			found = true
		}
	}
	return sum, found
}

func featuresBody(users ...string) string {
	ents := make([]string, len(users))
	for i, u := range users {
		ents[i] = fmt.Sprintf(`{"user_id":%q}`, u)
	}
	return `{"features":["stats:clicks","stats:ctr","profile:score","profile:segment"],"entities":[` + strings.Join(ents, ",") + `]}`
}

func predictBody(users ...string) string {
	ents := make([]string, len(users))
	for i, u := range users {
		ents[i] = fmt.Sprintf(`{"user_id":%q}`, u)
	}
	return `{"entities":[` + strings.Join(ents, ",") + `]}`
}

// seedUntil writes the warm users' stats rows to Redis through the push
// route, as a feature pipeline would, until it answers 200: a write on a
// busy machine may miss the features' Redis timeout, and just after a
// Redis restart the gateway may not have reconnected yet.
func (e *env) seedUntil(token string, within time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(within)
	body := `{"view":"stats","rows":[` + seedRows() + `]}`
	for {
		st, _, resp := e.do(0, "POST", "/v1/push", token, body)
		if st == 200 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("seeding stats after %s: %d %s", within, st, resp)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func seedRows() string {
	var rows []string
	for u := range warmUsers {
		rows = append(rows, fmt.Sprintf(`{"entity":{"user_id":"u%d"},"values":{"clicks":%d,"ctr":0.%d}}`, u, 10+u, u+1))
	}
	return strings.Join(rows, ",")
}
