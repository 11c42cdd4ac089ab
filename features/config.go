package features

import (
	"time"

	"github.com/tiercel/tiercel/internal/breaker"
	"github.com/tiercel/tiercel/internal/defaults"
)

// Config is the feature registry and the store's limits, as written in the
// `features:` section of the config file. Zero values are the documented
// defaults; Validate reports every problem with its yaml path.
type Config struct {
	// KeyPrefix starts every Redis key the package reads or writes
	// (default "tiercel:"); use the cache's prefix so one Redis can hold
	// several deployments.
	KeyPrefix string `yaml:"key_prefix"`

	// MaxEntities bounds entity rows per request (default 1000). More is a
	// TooLarge error: a request that big belongs in a batch job.
	MaxEntities int `yaml:"max_entities"`

	// MaxRefs bounds `view:feature` refs per request (default 500).
	MaxRefs int `yaml:"max_refs"`

	// RedisTimeout bounds the one Redis pipeline of a Get (default 10ms);
	// the request's own deadline and the views' budgets cut it shorter.
	// Rows it did not answer come back NOT_FOUND or DEFAULT, and the result
	// is marked incomplete.
	RedisTimeout time.Duration `yaml:"redis_timeout"`

	// Breaker guards the feature Redis, and is the default of every http
	// view's and OIP model's own breaker (zero fields: features.breaker).
	Breaker breaker.Config `yaml:"breaker"`

	// RowTTL is how long a row read from a redis or memory view stays in L1
	// (default 5s). Push invalidates it at once in this process; other
	// replicas see the write after at most RowTTL unless they apply the
	// invalidation event too.
	RowTTL time.Duration `yaml:"row_ttl"`

	// RowCacheBytes sizes the in-process cache of those rows (default 64 MiB).
	RowCacheBytes int64 `yaml:"row_cache_bytes"`

	// LastGoodTTL is how long an entity's last good prediction is kept in
	// Redis (default 24h), where every replica finds it when the model is
	// down; each process also remembers the ones it served.
	LastGoodTTL time.Duration `yaml:"last_good_ttl"`

	// LastGoodEntries bounds the last good predictions each process keeps
	// in memory (default 100000, ~100 bytes each); beyond them Redis still
	// has every one. The cache's admission counters are sized from it, so
	// an oversized value costs memory and start/stop time for nothing.
	LastGoodEntries int64 `yaml:"last_good_entries"`

	// SeedDemo fills the demo's user_stats view (source memory) with the
	// synthetic rows of users u1…u1000 (internal/demo) when the gateway
	// creates the Store: a memory view starts empty and the embedded demo
	// has no pipeline to fill it. For the embedded demo only.
	SeedDemo bool `yaml:"seed_demo"`

	Entities []EntityConfig         `yaml:"entities"`
	Views    []ViewConfig           `yaml:"views"`
	Services []FeatureServiceConfig `yaml:"feature_services"`
	Models   []ModelConfig          `yaml:"models"`
}

// EntityConfig is a kind of thing features describe (a user, an item),
// identified by one or more join keys.
type EntityConfig struct {
	Name     string          `yaml:"name"`
	JoinKeys []JoinKeyConfig `yaml:"join_keys"`
}

// JoinKeyConfig is one entity column.
type JoinKeyConfig struct {
	Name string `yaml:"name"`
	Type string `yaml:"type"` // int64 | string (default string)
}

// ViewConfig is a feature view: features of the same entities, written
// together, with one event timestamp per row.
type ViewConfig struct {
	Name     string          `yaml:"name"`
	Entities []string        `yaml:"entities"`
	Features []FeatureConfig `yaml:"features"`

	// MaxAge: a row whose event timestamp is older is OUTSIDE_MAX_AGE
	// (checked on every read, not only on write). Zero: no limit.
	MaxAge time.Duration `yaml:"max_age"`

	// Budget caps the time a read of this view may take, counted from the
	// start of the read (default 0: no cap but the caller's deadline, which
	// the gateway fixes at the edge from the route's timeout). What is not read by then is NOT_FOUND or DEFAULT. Redis
	// views share one pipeline, which gets the smallest budget among the
	// views it reads (and redis_timeout).
	Budget time.Duration `yaml:"budget"`

	// FeastDefaults lets Feast's /get-online-features answer this view's
	// declared defaults (with the status they stand in for). Off by
	// default: Feast's own servers answer null + NOT_FOUND, and Feast's
	// client (to_dict, to_df) ignores statuses, so a default would read as
	// data. The native endpoint always answers defaults, flagged DEFAULT.
	FeastDefaults bool `yaml:"feast_defaults"`

	Source SourceConfig `yaml:"source"`

	// PushSource is the Feast push source name that POST /push writes this
	// view by (default: the view's name; redis and memory views only).
	// Views may share one: a push writes each of them, as Feast's does.
	PushSource string `yaml:"push_source"`

	// TimestampField is the column of Feast's pushes and writes that holds
	// the rows' event times (default event_timestamp, as in Feast's
	// examples). A df without it is written at the time of the write.
	TimestampField string `yaml:"timestamp_field"`
}

// FeatureConfig is one typed feature of a view.
type FeatureConfig struct {
	Name string `yaml:"name"`
	Type string `yaml:"type"`

	// Default, when set, is served (status DEFAULT) instead of a missing or
	// too old value. It must have the feature's type.
	Default any `yaml:"default"`
}

// SourceConfig says where a view's rows live.
type SourceConfig struct {
	// Type is redis (default), http (an upstream speaking Feast's
	// /get-online-features) or memory (in process, fed by Push; for the
	// embedded demo and tests).
	Type string `yaml:"type"`

	// URL of the upstream's /get-online-features endpoint (http only).
	URL string `yaml:"url"`

	// UpstreamView is the view's name on the upstream (default: Name).
	UpstreamView string `yaml:"upstream_view"`

	// Timeout bounds one upstream call (http only, default 50ms).
	Timeout time.Duration `yaml:"timeout"`

	// TTL is how long an upstream answer is fresh in the cache (http only,
	// default 1m); it is then served stale for as long again while it is
	// refreshed, and kept as long again for upstream failures.
	TTL time.Duration `yaml:"ttl"`

	// Breaker guards the upstream (http only; zero fields: features.breaker).
	Breaker breaker.Config `yaml:"breaker"`

	// Auth sets the Authorization header of upstream calls (http only;
	// zero: none is sent).
	Auth UpstreamAuth `yaml:"auth"`
}

// UpstreamAuth is how an http view authenticates to its upstream: a static
// bearer token, read when the configuration is (at start and on reload),
// or the caller's own Authorization header. At most one is set.
type UpstreamAuth struct {
	// TokenFile holds the token (surrounding white space is trimmed); it
	// is sent as "Authorization: Bearer <token>".
	TokenFile string `yaml:"token_file"`
	// TokenEnv names the environment variable that holds the token.
	TokenEnv string `yaml:"token_env"`
	// Forward sends the caller's Authorization header as it came. The rows
	// are still cached and shared: the caller whose miss fills a row
	// authorizes the upstream call, the route's auth every later read.
	Forward bool `yaml:"forward"`
}

// FeatureServiceConfig names a set of refs, for Feast's `feature_service`.
type FeatureServiceConfig struct {
	Name     string   `yaml:"name"`
	Features []string `yaml:"features"`
}

// ModelConfig is one model version and how to reach it.
type ModelConfig struct {
	Name    string `yaml:"name"`
	Version string `yaml:"version"`

	// Inputs are `view:feature` refs of numeric types (int64, float64, bool,
	// float32_vector[N]); their values, flattened in this order, are the
	// model's input vector.
	Inputs []string `yaml:"inputs"`

	Backend BackendConfig `yaml:"backend"`

	// Default, when set, is the prediction served (flagged "default") when
	// neither the model nor a last good prediction can answer.
	Default *float64 `yaml:"default"`

	// TTL is how long a prediction is fresh in the cache (default 5m). The
	// key already changes with the inputs, so this only bounds memory and
	// how long a model's nondeterminism is hidden.
	TTL time.Duration `yaml:"ttl"`

	// Budget caps one Predict, feature reads and model call included,
	// counted from its start (default 0: no cap but the caller's deadline,
	// which the gateway fixes at the edge from the route's timeout; 100ms
	// for a caller without a deadline). Rows the
	// model did not answer by then fall back to stale, then default.
	Budget time.Duration `yaml:"budget"`
}

// BackendConfig is a model's implementation.
type BackendConfig struct {
	// Type is oip (an Open Inference Protocol REST server) or builtin.
	Type string `yaml:"type"`

	// URL is the OIP server's base URL (oip only): requests go to
	// {URL}/v2/models/{ModelName}/versions/{Version}/infer.
	URL string `yaml:"url"`
	// ModelName on the OIP server (default: the model's Name).
	ModelName string `yaml:"model_name"`
	// Timeout bounds one OIP call (default 50ms).
	Timeout time.Duration `yaml:"timeout"`
	// Breaker guards the OIP server (oip only; zero fields: features.breaker).
	Breaker breaker.Config `yaml:"breaker"`
	// SendVersion: put /versions/{Version} in the infer path (oip only,
	// default true). false for a server that serves only
	// {URL}/v2/models/{ModelName}/infer.
	SendVersion *bool `yaml:"send_version"`
	// InputTensors are the tensors the input vector is sent as, in order,
	// each of shape [rows, width]; their widths add up to the vector's.
	// Default: one FP64 tensor "input-0" of the whole vector. The gateway's
	// own OIP endpoint (/v2/models/{name}/infer) takes the same tensors.
	InputTensors []TensorConfig `yaml:"input_tensors"`
	// Output names the output tensor that holds the prediction (default:
	// the first one the server answers; "output-0" on the gateway's own
	// OIP endpoint). It must hold one number (or bool) per row.
	Output string `yaml:"output"`
	// Parameters are sent as the infer request's parameters (oip only;
	// string, number or bool values).
	Parameters map[string]any `yaml:"parameters"`
	// RequestID: send an "id" with every infer request (oip only) and
	// refuse an answer that echoes another one.
	RequestID bool `yaml:"request_id"`

	// Kind is linear or logistic (builtin only).
	Kind string `yaml:"kind"`
	// WeightsFile is a JSON file {"bias": b, "weights": [w...]} (builtin).
	WeightsFile string `yaml:"weights_file"`
	// Weights inline, instead of WeightsFile.
	Weights *Weights `yaml:"weights"`
}

// TensorConfig is one OIP input tensor: a slice of the input vector.
type TensorConfig struct {
	Name string `yaml:"name"`
	// Datatype is the OIP datatype sent: FP64 (default), FP32, INT8,
	// INT16, INT32, INT64, UINT8, UINT16, UINT32, UINT64 or BOOL. An
	// input not representable in it (1.5 as INT64, 2 as BOOL) fails the
	// call, which falls back like any model failure.
	Datatype string `yaml:"datatype"`
	// Width is how many values of the vector the tensor takes (default:
	// the whole vector, for a single tensor).
	Width int `yaml:"width"`
}

// Weights of a builtin linear model: y = bias + Σ weights[i]·x[i]
// (logistic: the sigmoid of that).
type Weights struct {
	Bias    float64   `yaml:"bias" json:"bias"`
	Weights []float64 `yaml:"weights" json:"weights"`
}

const (
	defaultKeyPrefix       = "tiercel:"
	defaultMaxEntities     = 1000
	defaultMaxRefs         = 500
	defaultRedisTimeout    = 10 * time.Millisecond
	defaultRowTTL          = 5 * time.Second
	defaultRowCacheBytes   = 64 << 20
	defaultHTTPTimeout     = 50 * time.Millisecond
	defaultHTTPTTL         = time.Minute
	defaultModelTTL        = 5 * time.Minute
	defaultLastGoodTTL     = 24 * time.Hour
	defaultLastGoodEntries = 100000
	// defaultModelBudget bounds a Predict whose caller set no deadline.
	defaultModelBudget = 100 * time.Millisecond
)

func (c Config) withDefaults() Config {
	defaults.Set(&c.KeyPrefix, defaultKeyPrefix)
	defaults.Set(&c.MaxEntities, defaultMaxEntities)
	defaults.Set(&c.MaxRefs, defaultMaxRefs)
	defaults.Set(&c.RedisTimeout, defaultRedisTimeout)
	defaults.Set(&c.RowTTL, defaultRowTTL)
	defaults.Set(&c.RowCacheBytes, defaultRowCacheBytes)
	defaults.Set(&c.LastGoodTTL, defaultLastGoodTTL)
	defaults.Set(&c.LastGoodEntries, defaultLastGoodEntries)
	c.Breaker = c.Breaker.Or(breaker.Config{Failures: breaker.DefaultFailures, Cooldown: defaultBreakerCooldown})
	return c
}
