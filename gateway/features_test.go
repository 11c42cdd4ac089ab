package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tiercel/tiercel/features"
	"github.com/tiercel/tiercel/internal/breaker"
	"github.com/tiercel/tiercel/internal/testredis"
)

// featureScopes is a token that may call every feature route.
var featureScopes = jwt.MapClaims{"scope": "features:read features:write predict"}

// featureRoutes adds the four built-in routes and a registry: a memory view
// "mem", a redis view "rv" when there is a Redis, a builtin model "lin" over
// mem:clicks and, when oipURL is set, an OIP model "remote" with default -1.
func featureRoutes(redisURL, oipURL string) func(*Config) {
	return func(c *Config) {
		if redisURL != "" { // else the Redis set before (sharedRedis.use), if any
			c.Redis.URL = redisURL
		}
		feats := []features.FeatureConfig{
			{Name: "clicks", Type: "int64", Default: 0},
			{Name: "country", Type: "string"},
			{Name: "emb", Type: "float32_vector[2]"},
		}
		c.Features = features.Config{
			// Generous: at the default 10ms a pipeline under -race on a
			// loaded machine timed out, and a read right after a push came
			// back DEFAULT (TestFeaturesPushReadYourWriteRedis).
			RedisTimeout: time.Second,
			MaxEntities:  5,
			Entities:     []features.EntityConfig{{Name: "user", JoinKeys: []features.JoinKeyConfig{{Name: "user_id"}}}},
			Views: []features.ViewConfig{{Name: "mem", Entities: []string{"user"}, MaxAge: time.Hour,
				Source: features.SourceConfig{Type: "memory"}, Features: feats}},
			Models: []features.ModelConfig{{Name: "lin", Version: "1", Inputs: []string{"mem:clicks"},
				Backend: features.BackendConfig{Type: "builtin", Kind: "linear", Weights: &features.Weights{Bias: 1, Weights: []float64{2}}}}},
		}
		if c.Redis.Enabled() {
			c.Features.Views = append(c.Features.Views, features.ViewConfig{Name: "rv", Entities: []string{"user"},
				MaxAge: time.Hour, Features: feats})
		}
		if oipURL != "" {
			def := -1.0
			c.Features.Models = append(c.Features.Models, features.ModelConfig{Name: "remote", Version: "1",
				Inputs: []string{"mem:clicks"}, Default: &def, Backend: features.BackendConfig{Type: "oip", URL: oipURL}})
		}
		post := []string{"POST"}
		c.Routes = append(c.Routes,
			RouteConfig{Name: "features", Path: "/v1/features", Methods: post, Handler: "features",
				Auth: RouteAuth{Scopes: []string{"features:read"}}, RateLimit: "big"},
			RouteConfig{Name: "feast", Path: "/get-online-features", Methods: post, Handler: "feast",
				Auth: RouteAuth{Scopes: []string{"features:read"}}, RateLimit: "big"},
			RouteConfig{Name: "push", Path: "/v1/push", Methods: post, Handler: "push",
				Auth: RouteAuth{Scopes: []string{"features:write"}}, RateLimit: "big"},
			RouteConfig{Name: "feast-push", Path: "/push", Methods: post, Handler: "feast_push",
				Auth: RouteAuth{Scopes: []string{"features:write"}}, RateLimit: "big"},
			RouteConfig{Name: "feast-write", Path: "/write-to-online-store", Methods: post, Handler: "feast_write",
				Auth: RouteAuth{Scopes: []string{"features:write"}}, RateLimit: "big"},
			RouteConfig{Name: "feast-health", Path: "/health", Methods: []string{"GET"}, Handler: "feast_health",
				Auth: RouteAuth{Mode: "none"}},
			RouteConfig{Name: "predict", Path: "/v1/models/{name}/predict", Methods: post, Handler: "predict",
				Auth: RouteAuth{Scopes: []string{"predict"}}, RateLimit: "big", Timeout: 500 * time.Millisecond},
		)
	}
}

func (h *harness) post(path, tok, body string) reply {
	h.t.Helper()
	return h.do("POST", path, tok, strings.NewReader(body), nil)
}

// mustPost posts and fails the test unless the status is 200 with JSON.
func (h *harness) mustPost(path, tok, body string) reply {
	h.t.Helper()
	r := h.post(path, tok, body)
	if r.status != 200 || r.header.Get("Content-Type") != "application/json" {
		h.t.Fatalf("POST %s: %d %q %s", path, r.status, r.header.Get("Content-Type"), r.body)
	}
	return r
}

type nativeReply struct {
	Features []string `json:"features"`
	Results  []struct {
		Entity   map[string]any `json:"entity"`
		Values   []any          `json:"values"`
		Statuses []string       `json:"statuses"`
		TS       []string       `json:"event_timestamps"`
	} `json:"results"`
	Incomplete bool `json:"incomplete"`
}

func decode[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("cannot decode %q: %v", body, err)
	}
	return v
}

func TestFeaturesNativeStatuses(t *testing.T) {
	h := newHarness(t, featureRoutes("", ""))
	tok := token(t, featureScopes)
	old := time.Now().Add(-2 * time.Hour).UTC().Format(time.RFC3339)
	h.mustPost("/v1/push", tok, `{"view":"mem","rows":[
		{"entity":{"user_id":"u1"},"values":{"clicks":7,"country":"FR","emb":[0.5,-1]}},
		{"entity":{"user_id":"u2"},"values":{"clicks":3,"country":"DE"},"event_timestamp":"`+old+`"}]}`)
	r := h.mustPost("/v1/features", tok, `{"features":["mem:clicks","mem:country","mem:emb"],
		"entities":[{"user_id":"u1"},{"user_id":"u2"},{"user_id":"u3"}]}`)
	if st := r.header.Get("Server-Timing"); !strings.Contains(st, "features;dur=") {
		t.Errorf("Server-Timing %q has no features stage", st)
	}
	got := decode[nativeReply](t, r.body)
	want := [][]string{
		{"PRESENT", "PRESENT", "PRESENT"},
		{"DEFAULT", "OUTSIDE_MAX_AGE", "NOT_FOUND"}, // too old: default where declared
		{"DEFAULT", "NOT_FOUND", "NOT_FOUND"},
	}
	if len(got.Results) != 3 || got.Incomplete {
		t.Fatalf("reply %s", r.body)
	}
	for i, w := range want {
		res := got.Results[i]
		if strings.Join(res.Statuses, ",") != strings.Join(w, ",") {
			t.Errorf("row %d statuses %v, want %v", i, res.Statuses, w)
		}
	}
	u1 := got.Results[0]
	if u1.Entity["user_id"] != "u1" || u1.Values[0] != 7.0 || u1.Values[1] != "FR" || len(u1.TS) != 3 {
		t.Errorf("u1: %+v", u1)
	}
}

type feastReply struct {
	Metadata struct {
		FeatureNames []string `json:"feature_names"`
	} `json:"metadata"`
	Results []struct {
		Values   []any    `json:"values"`
		Statuses []string `json:"statuses"`
		TS       []string `json:"event_timestamps"`
	} `json:"results"`
}

func TestFeaturesFeastShape(t *testing.T) {
	h := newHarness(t, featureRoutes("", ""))
	tok := token(t, featureScopes)
	h.mustPost("/v1/push", tok, `{"view":"mem","rows":[{"entity":{"user_id":"u1"},"values":{"clicks":5,"country":"JP"}}]}`)
	r := h.mustPost("/get-online-features", tok,
		`{"features":["mem:clicks","mem:country"],"entities":{"user_id":["u1","u9"]},"full_feature_names":true}`)
	got := decode[feastReply](t, r.body)
	if names := strings.Join(got.Metadata.FeatureNames, ","); names != "user_id,mem__clicks,mem__country" {
		t.Errorf("feature_names %q", names)
	}
	if len(got.Results) != 3 {
		t.Fatalf("results: %s", r.body)
	}
	// Entity column first, then one column per ref; Feast knows no DEFAULT.
	if got.Results[0].Values[0] != "u1" || got.Results[1].Values[0] != 5.0 || got.Results[2].Values[0] != "JP" {
		t.Errorf("values: %s", r.body)
	}
	if s := strings.Join(got.Results[1].Statuses, ","); s != "PRESENT,NOT_FOUND" {
		t.Errorf("clicks statuses %q", s)
	}
	if len(got.Results[2].TS) != 2 {
		t.Errorf("timestamps: %s", r.body)
	}
}

func TestFeaturesPushReadYourWriteRedis(t *testing.T) {
	rs := testredis.Start(t)
	h := newHarness(t, featureRoutes(rs.URL(), ""))
	tok := token(t, featureScopes)
	read := func() nativeReply {
		t.Helper()
		return decode[nativeReply](t, h.mustPost("/v1/features", tok, `{"features":["rv:clicks","rv:country"],"entities":[{"user_id":"u1"}]}`).body)
	}
	if got := read(); got.Results[0].Statuses[1] != "NOT_FOUND" {
		t.Fatalf("before the push: %+v", got.Results[0])
	}
	h.srv.current().features.Wait() // the NOT_FOUND row is in L1 now: the push must drop it
	for i, country := range []string{"FR", "NG"} {
		h.mustPost("/v1/push", tok, `{"view":"rv","rows":[{"entity":{"user_id":"u1"},"values":{"clicks":`+strconv.Itoa(i+1)+`,"country":"`+country+`"}}]}`)
		got := read()
		if r := got.Results[0]; r.Values[1] != country || r.Statuses[0] != "PRESENT" {
			t.Fatalf("after push %d: %+v", i, r)
		}
		h.srv.current().features.Wait()
	}
	if n, _ := rs.Client().Exists(t.Context(), "tiercel:fv:rv:u1").Result(); n != 1 {
		t.Errorf("the row is not in Redis under the documented key")
	}
}

type predictReply struct {
	Model, Version string
	Predictions    []struct {
		Entity map[string]any `json:"entity"`
		Value  *float64       `json:"value"`
		Source string         `json:"source"`
	} `json:"predictions"`
}

func sources(p predictReply) string {
	var s []string
	for _, r := range p.Predictions {
		s = append(s, r.Source)
	}
	return strings.Join(s, ",")
}

func TestFeaturesPredictCaches(t *testing.T) {
	h := newHarness(t, featureRoutes("", ""))
	tok := token(t, featureScopes)
	h.mustPost("/v1/push", tok, `{"view":"mem","rows":[{"entity":{"user_id":"u1"},"values":{"clicks":4}}]}`)
	body := `{"entities":[{"user_id":"u1"}]}`
	r := h.mustPost("/v1/models/lin/predict", tok, body)
	got := decode[predictReply](t, r.body)
	if got.Model != "lin" || got.Version != "1" || sources(got) != "model" || *got.Predictions[0].Value != 9 {
		t.Fatalf("first: %s", r.body)
	}
	if st := r.header.Get("Server-Timing"); !strings.Contains(st, "predict;dur=") {
		t.Errorf("Server-Timing %q has no predict stage", st)
	}
	h.srv.current().features.Wait()
	if got := decode[predictReply](t, h.mustPost("/v1/models/lin/predict", tok, body).body); sources(got) != "cache" {
		t.Fatalf("second: %+v", got)
	}
	// Raw inputs take the same path.
	if got := decode[predictReply](t, h.mustPost("/v1/models/lin/predict", tok, `{"inputs":[[1]]}`).body); *got.Predictions[0].Value != 3 {
		t.Fatalf("raw inputs: %+v", got)
	}
}

// startOIP is an Open Inference Protocol model server: y = 10·x0.
func startOIP(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Inputs []struct {
				Shape []int     `json:"shape"`
				Data  []float64 `json:"data"`
			} `json:"inputs"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Inputs) != 1 {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		in := req.Inputs[0]
		out := make([]float64, in.Shape[0])
		for i := range out {
			out[i] = 10 * in.Data[i*in.Shape[1]]
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"outputs": []any{
			map[string]any{"name": "y", "shape": []int{len(out), 1}, "datatype": "FP64", "data": out}}})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestFeaturesModelDownFallsBack(t *testing.T) {
	oip := startOIP(t)
	h := newHarness(t, featureRoutes("", oip.URL))
	tok := token(t, featureScopes)
	push := func(clicks string) {
		h.mustPost("/v1/push", tok, `{"view":"mem","rows":[{"entity":{"user_id":"u1"},"values":{"clicks":`+clicks+`}}]}`)
	}
	push("2")
	if got := decode[predictReply](t, h.mustPost("/v1/models/remote/predict", tok, `{"entities":[{"user_id":"u1"}]}`).body); sources(got) != "model" || *got.Predictions[0].Value != 20 {
		t.Fatalf("model up: %+v", got)
	}
	h.srv.current().features.Wait() // u1's last good prediction is recorded
	oip.Close()
	push("3") // a new input vector: the prediction cache cannot answer
	r := h.mustPost("/v1/models/remote/predict", tok, `{"entities":[{"user_id":"u1"},{"user_id":"u2"}]}`)
	got := decode[predictReply](t, r.body)
	if sources(got) != "stale,default" || *got.Predictions[0].Value != 20 || *got.Predictions[1].Value != -1 {
		t.Fatalf("model down: %s, want u1 stale (20) and u2 default (-1)", r.body)
	}
}

func TestFeaturesBadRequests(t *testing.T) {
	h := newHarness(t, featureRoutes("", ""))
	tok := token(t, featureScopes)
	f := func(path, tok, body string, status int, code string, inMessage ...string) {
		t.Helper()
		r := h.post(path, tok, body)
		if r.status != status || r.err.Code != code {
			t.Fatalf("POST %s %s: %d %q, want %d %q (%s)", path, body, r.status, r.err.Code, status, code, r.body)
		}
		for _, m := range inMessage {
			if !strings.Contains(r.err.Message, m) {
				t.Errorf("POST %s: message %q does not name %q", path, r.err.Message, m)
			}
		}
		if r.err.RequestID == "" {
			t.Errorf("POST %s: no request_id", path)
		}
	}
	f("/v1/features", tok, `{"features":`, 400, "bad_json")
	f("/v1/features", tok, `{"features":["mem:nope","other:x","mem:clicks","mem:<b>"],"entities":[{"user_id":"u1"}]}`,
		400, "unknown_features", `"nope"`, `"other"`, `"<b>"`)
	f("/v1/features", tok, `{"features":["mem:clicks"],"entities":[{"user_id":"1"},{"user_id":"2"},{"user_id":"3"},{"user_id":"4"},{"user_id":"5"},{"user_id":"6"}]}`,
		413, "too_many_entities", "at most 5")
	f("/v1/push", tok, `{"view":"mem","rows":[{"entity":{"user_id":"u1"},"values":{"clicks":"many","shoe_size":3}}]}`,
		400, "bad_rows", "clicks", `"shoe_size"`)
	f("/v1/models/nope/predict", tok, `{"entities":[{"user_id":"u1"}]}`, 404, "unknown_model", `"nope"`)
	f("/v1/models/lin/predict", tok, `{"inputs":[[1],[2],[3],[4],[5],[6]]}`, 413, "too_many_rows")
	// Scopes: reading does not allow writing or predicting.
	reader := token(t, jwt.MapClaims{"scope": "features:read"})
	f("/v1/push", reader, `{}`, 403, "insufficient_scope")
	f("/v1/models/lin/predict", reader, `{}`, 403, "insufficient_scope")
	f("/v1/features", token(t, nil), `{}`, 403, "insufficient_scope")
	f("/v1/features", "", `{}`, 401, "missing")
}

func TestFeaturesRouteWithoutRegistryFailsAtStart(t *testing.T) {
	cfg := testConfig("127.0.0.1:9")
	cfg.Routes = append(cfg.Routes, RouteConfig{Path: "/v1/features", Methods: []string{"POST"}, Handler: "features"})
	cfg.SetDefaults()
	// Config.Validate catches it once it calls builtinNeeds; New always does.
	err := cfg.Validate()
	if err == nil {
		var s *Server
		if s, err = New(cfg, nil); err == nil {
			s.closeComponents()
			t.Fatal("a handler route without views or models started")
		}
	}
	if !strings.Contains(err.Error(), "features") || !strings.Contains(err.Error(), "views") {
		t.Errorf("unclear error: %v", err)
	}
}

func TestBuiltinNeeds(t *testing.T) {
	views := &features.Config{Views: []features.ViewConfig{{Name: "v"}}}
	models := &features.Config{Models: []features.ModelConfig{{Name: "m"}}}
	f := func(h, path string, fc *features.Config, want string) {
		t.Helper()
		if got := builtinNeeds(h, path, fc); !strings.Contains(got, want) || (want == "") != (got == "") {
			t.Errorf("builtinNeeds(%s, %s) = %q, want %q", h, path, got, want)
		}
	}
	f("features", "/v1/features", views, "")
	f("push", "/v1/push", models, `"push" needs features.views`)
	f("predict", "/v1/models/{name}/predict", models, "")
	f("predict", "/v1/models/{name}/predict", views, "needs features.models")
	f("predict", "/v1/models/{model}/predict", models, "{name}")
}

// A failing model server never fails a predict route inside its budget:
// rows come back "default", the model's breaker opens and /readyz and
// /metrics say which dependency is down and what was served instead.
func TestFeaturesModelBreakerReadyzAndMetrics(t *testing.T) {
	var failing atomic.Bool
	oip := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"outputs": []any{
			map[string]any{"name": "y", "shape": []int{1, 1}, "datatype": "FP64", "data": []float64{7}}}})
	}))
	t.Cleanup(oip.Close)
	h := newHarness(t, func(c *Config) {
		featureRoutes("", oip.URL)(c)
		c.Features.Breaker = breaker.Config{Failures: 2, Cooldown: time.Hour}
	})
	tok := token(t, featureScopes)
	failing.Store(true)
	for i := range 3 {
		// A new input vector each time: the prediction cache cannot answer.
		h.mustPost("/v1/push", tok, `{"view":"mem","rows":[{"entity":{"user_id":"u1"},"values":{"clicks":`+strconv.Itoa(i)+`}}]}`)
		r := h.mustPost("/v1/models/remote/predict", tok, `{"entities":[{"user_id":"u1"}]}`)
		if got := decode[predictReply](t, r.body); sources(got) != "default" || *got.Predictions[0].Value != -1 {
			t.Fatalf("predict %d with the model failing: %s", i, r.body)
		}
	}
	rd := h.srv.Readiness(context.Background())
	if c := rd.Checks["model:remote"]; c.Status != "down" || c.Detail.(featureDetail).Breaker != "open" || rd.Status != "degraded" {
		t.Errorf("readyz: %s %+v, model:remote %+v", rd.Status, rd.Checks, c)
	}
	if c := rd.Checks["model:lin"]; c.Status != "ok" {
		t.Errorf("readyz model:lin (builtin): %+v", c)
	}
	m := h.metrics(t)
	for _, want := range []string{
		`tiercel_features_breaker_state{dependency="model:remote",state="open"} 1`,
		`tiercel_features_breaker_skipped_total{dependency="model:remote"} 1`,
		`tiercel_prediction_fallbacks_total{model="remote",reason="error",served="default"} 2`,
		`tiercel_prediction_fallbacks_total{model="remote",reason="breaker_open",served="default"} 1`,
		`tiercel_predictions_total{source="default"} 3`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// Redis down: a read of a redis view is answered (200) with DEFAULT and
// NOT_FOUND values, marked incomplete; /readyz names features:redis.
func TestFeaturesRedisDownReadyz(t *testing.T) {
	rs := testredis.Start(t)
	h := newHarness(t, func(c *Config) {
		featureRoutes(rs.URL(), "")(c)
		c.Features.Breaker = breaker.Config{Failures: 2, Cooldown: time.Hour}
	})
	tok := token(t, featureScopes)
	rs.Kill()
	for i := range 3 {
		// A new entity each time: L1 cannot answer.
		r := h.mustPost("/v1/features", tok, `{"features":["rv:clicks","rv:country"],"entities":[{"user_id":"x`+strconv.Itoa(i)+`"}]}`)
		got := decode[nativeReply](t, r.body)
		if res := got.Results[0]; !got.Incomplete || res.Statuses[0] != "DEFAULT" || res.Values[0] != 0.0 || res.Statuses[1] != "NOT_FOUND" {
			t.Fatalf("read %d with Redis down: %s", i, r.body)
		}
	}
	if c := h.srv.Readiness(context.Background()).Checks["features:redis"]; c.Status != "down" || c.Detail.(featureDetail).Breaker != "open" {
		t.Errorf("readyz features:redis: %+v", c)
	}
	m := h.metrics(t)
	if !strings.Contains(m, `tiercel_features_fallback_rows_total{reason="breaker_open",view="rv"} 1`) {
		t.Errorf("/metrics lacks the breaker_open fallback of view rv")
	}
}

// Rows whose reply is an error (here WRONGTYPE: a hash where a row is read
// with GET, as on a cluster; a single node's MGET answers nil) are counted
// per row on their own metric; the pipeline they came in is one ok
// pipeline. Counted as pipeline failures per row, they made
// pipelines_total{result="ok"} (pipelines - failures) wrap around to
// 1.8446744073709552e+19.
func TestFeaturesRowErrorMetrics(t *testing.T) {
	rs := clusterRedis(t)
	h := newHarness(t, rs.use(featureRoutes("", "")))
	for _, id := range []string{"w1", "w2"} {
		if err := rs.client.HSet(context.Background(), "tiercel:fv:rv:"+id, "f", "not a row").Err(); err != nil {
			t.Fatal(err)
		}
	}
	tok := token(t, featureScopes)
	r := h.mustPost("/v1/features", tok, `{"features":["rv:clicks"],"entities":[{"user_id":"w1"},{"user_id":"w2"}]}`)
	if got := decode[nativeReply](t, r.body); !got.Incomplete || got.Results[0].Statuses[0] != "DEFAULT" {
		t.Fatalf("read of rows of the wrong type: %s", r.body)
	}
	m := h.metrics(t)
	for _, want := range []string{
		`tiercel_features_redis_pipelines_total{result="ok"} 1`,
		`tiercel_features_redis_pipelines_total{result="error"} 0`,
		`tiercel_features_redis_row_errors_total 2`,
	} {
		// The whole line: "ok"} 1 is a prefix of "ok"} 1.8446744073709552e+19.
		if !strings.Contains(m, want+"\n") {
			t.Errorf("/metrics lacks %s; it has:\n%s", want, grepLines(m, "tiercel_features_redis_"))
		}
	}
}
