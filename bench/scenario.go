package bench

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/tiercel/tiercel/internal/defaults"
	"github.com/tiercel/tiercel/internal/yamlconf"
)

// Suite is a scenarios file (bench/scenarios/default.yaml is the
// documented example). Zero values take the defaults below.
type Suite struct {
	// Defaults fill the scenarios' unset conns, duration, warmup and timeout.
	Defaults Defaults `yaml:"defaults"`
	// Scenarios run in file order, each against a gateway of its own.
	Scenarios []Scenario `yaml:"scenarios"`
}

// Defaults are the suite-wide load settings.
type Defaults struct {
	Conns    int           `yaml:"conns"`    // default 64
	Duration time.Duration `yaml:"duration"` // default 10s
	Warmup   time.Duration `yaml:"warmup"`   // default none
	Timeout  time.Duration `yaml:"timeout"`  // default 5s
}

// Scenario is one measured load against one target.
type Scenario struct {
	// Name names the run and its files: lower case, digits and dashes.
	Name string `yaml:"name"`
	// Description says what the scenario measures, for the report.
	Description string `yaml:"description"`
	// Gateway is what the tool starts for the scenario (ignored when the
	// run is pointed at an existing target).
	Gateway GatewaySpec `yaml:"gateway"`
	// Requests is the load's request mix (one entry for most scenarios).
	Requests []RequestSpec `yaml:"requests"`
	// Rate is the open-loop arrival rate in requests/s; 0 is closed loop
	// (max throughput; latencies then hide queueing).
	Rate float64 `yaml:"rate"`
	// Ramp raises the rate linearly from Ramp.From over Ramp.Over, from the
	// start of the warm-up.
	Ramp *Ramp `yaml:"ramp"`
	// Conns, Duration, Warmup, Timeout: as in Defaults.
	Conns    int           `yaml:"conns"`
	Duration time.Duration `yaml:"duration"`
	Warmup   time.Duration `yaml:"warmup"`
	Timeout  time.Duration `yaml:"timeout"`
	// Prefill requests every key of every GET request once, in order and
	// unmeasured, before the warm-up: an L2 scenario needs its keys in
	// Redis before it can measure L2 hits.
	Prefill bool `yaml:"prefill"`
	// Invalidate runs an invalidation storm alongside the load.
	Invalidate *Storm `yaml:"invalidate"`
}

// GatewaySpec configures the gateway the tool starts for a scenario.
type GatewaySpec struct {
	// Redis starts a redis-server and gives the gateway an L2 tier.
	Redis bool `yaml:"redis"`
	// RedisCluster, when at least 3, starts a Redis Cluster of that many
	// masters (no replicas) instead of one redis-server, and gives the
	// gateway redis.mode: cluster; it implies redis. 0: not a cluster.
	RedisCluster int `yaml:"redis_cluster"`
	// L1Bytes is the gateway's cache.l1_max_bytes; 0 is its default
	// (256 MiB). 1 MiB (the least) with many more keys makes L1 misses.
	L1Bytes int64 `yaml:"l1_bytes"`
	// ClusterScripts sets the gateway's cache.l2_cluster_scripts: on a
	// Redis Cluster, each batch of L2 reads is one script per master
	// instead of one GET per key. Needs redis_cluster.
	ClusterScripts bool `yaml:"cluster_scripts"`
	// Auth requires a JWT on every route (default true); the tool mints one.
	Auth *bool `yaml:"auth"`
	// RateLimit puts every route under a rate-limit policy (default true)
	// that admits the load: a 429 counts as an error, never as a hit.
	RateLimit *bool `yaml:"rate_limit"`
	// Kafka starts a Kafka broker (kfake) and has the gateway consume
	// invalidation events from it, for storms sent through Kafka.
	Kafka bool `yaml:"kafka"`
}

// RequestSpec is one kind of request of a scenario.
type RequestSpec struct {
	// Method defaults to GET.
	Method string `yaml:"method"`
	// Path is the target-relative path; "{key}" takes one drawn key.
	Path string `yaml:"path"`
	// Body is the request body; each "{key}" in it draws its own key, and
	// "{items}" expands to Items.
	Body string `yaml:"body"`
	// Items repeats a fragment into the body's "{items}", e.g. entities.
	Items *Items `yaml:"items"`
	// Keys is the number of distinct keys (0: no placeholders); KeyBase the
	// first (keys run over [key_base, key_base+keys)).
	Keys    int `yaml:"keys"`
	KeyBase int `yaml:"key_base"`
	// Dist is uniform (default), zipf or seq; ZipfS the Zipf exponent
	// (> 1, default 1.1).
	Dist  Dist    `yaml:"dist"`
	ZipfS float64 `yaml:"zipf_s"`
	// Weight is the share of the mix (default 1).
	Weight float64 `yaml:"weight"`
}

// Items is a body fragment repeated Count times, joined by commas.
type Items struct {
	Count    int    `yaml:"count"`
	Template string `yaml:"template"`
}

// Ramp is a linear rate ramp.
type Ramp struct {
	From float64       `yaml:"from"`
	Over time.Duration `yaml:"over"`
}

// Storm is an invalidation storm: Rate events/s, each dropping one tag,
// while the scenario's load reads.
type Storm struct {
	Rate float64 `yaml:"rate"`
	// Via is "admin" (default: POST /admin/invalidate) or "kafka" (events
	// published to the gateway's topic; needs gateway.kafka).
	// Tag is the tag template, e.g. "product:{key}".
	Tag  string `yaml:"tag"`
	Keys int    `yaml:"keys"`
	Dist Dist   `yaml:"dist"`
	Via  string `yaml:"via"`
}

// LoadSuite reads and checks a scenarios file. Errors name the file and
// the field: "default.yaml: scenarios[2].requests[0].dist: …".
func LoadSuite(path string) (*Suite, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read scenarios: %w", err)
	}
	s, err := ParseSuite(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// ParseSuite parses and checks a scenarios file's contents; ${VAR} is
// expanded from the environment.
func ParseSuite(data []byte) (*Suite, error) {
	var s Suite
	if err := yamlconf.Decode(data, &s, os.LookupEnv); err != nil {
		return nil, err
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

func (s *Suite) validate() error {
	if len(s.Scenarios) == 0 {
		return errors.New("scenarios: none defined")
	}
	if err := s.Defaults.validate("defaults"); err != nil {
		return err
	}
	seen := map[string]bool{}
	for i := range s.Scenarios {
		sc := &s.Scenarios[i]
		at := fmt.Sprintf("scenarios[%d]", i)
		if !nameRE.MatchString(sc.Name) {
			return fmt.Errorf("%s.name: %q must be lower-case letters, digits and dashes", at, sc.Name)
		}
		if seen[sc.Name] {
			return fmt.Errorf("%s.name: %q is used twice", at, sc.Name)
		}
		seen[sc.Name] = true
		if err := sc.validate(at); err != nil {
			return err
		}
	}
	return nil
}

func (d Defaults) validate(at string) error {
	switch {
	case d.Conns < 0:
		return fmt.Errorf("%s.conns: %d is negative", at, d.Conns)
	case d.Duration < 0:
		return fmt.Errorf("%s.duration: %v is negative", at, d.Duration)
	case d.Warmup < 0:
		return fmt.Errorf("%s.warmup: %v is negative", at, d.Warmup)
	case d.Timeout < 0:
		return fmt.Errorf("%s.timeout: %v is negative", at, d.Timeout)
	}
	return nil
}

func (sc *Scenario) validate(at string) error {
	if err := (Defaults{sc.Conns, sc.Duration, sc.Warmup, sc.Timeout}).validate(at); err != nil {
		return err
	}
	switch {
	case sc.Rate < 0:
		return fmt.Errorf("%s.rate: %v is negative", at, sc.Rate)
	case sc.Gateway.L1Bytes < 0 || (sc.Gateway.L1Bytes > 0 && sc.Gateway.L1Bytes < 1<<20):
		return fmt.Errorf("%s.gateway.l1_bytes: %d is below the gateway's 1 MiB minimum", at, sc.Gateway.L1Bytes)
	case sc.Gateway.RedisCluster != 0 && sc.Gateway.RedisCluster < 3:
		return fmt.Errorf("%s.gateway.redis_cluster: %d masters; a Redis Cluster needs at least 3", at, sc.Gateway.RedisCluster)
	case sc.Gateway.ClusterScripts && sc.Gateway.RedisCluster == 0:
		return fmt.Errorf("%s.gateway.cluster_scripts: needs redis_cluster", at)
	case len(sc.Requests) == 0:
		return fmt.Errorf("%s.requests: none defined", at)
	}
	if r := sc.Ramp; r != nil {
		switch {
		case sc.Rate == 0:
			return fmt.Errorf("%s.ramp: a ramp needs an open-loop rate", at)
		case r.From < 0:
			return fmt.Errorf("%s.ramp.from: %v is negative", at, r.From)
		case r.Over <= 0:
			return fmt.Errorf("%s.ramp.over: must be a positive duration", at)
		}
	}
	for j, r := range sc.Requests {
		if err := r.validate(fmt.Sprintf("%s.requests[%d]", at, j)); err != nil {
			return err
		}
	}
	if st := sc.Invalidate; st != nil {
		if err := st.validate(at + ".invalidate"); err != nil {
			return err
		}
		if st.Via == "kafka" && !sc.Gateway.Kafka {
			return fmt.Errorf("%s.invalidate.via: kafka needs gateway.kafka: true", at)
		}
	}
	return nil
}

func (r RequestSpec) validate(at string) error {
	switch {
	case !strings.HasPrefix(r.Path, "/"):
		return fmt.Errorf("%s.path: %q must start with /", at, r.Path)
	case r.Method != "" && strings.ToUpper(r.Method) != r.Method:
		return fmt.Errorf("%s.method: %q must be upper case", at, r.Method)
	case r.Keys < 0:
		return fmt.Errorf("%s.keys: %d is negative", at, r.Keys)
	case r.KeyBase < 0:
		return fmt.Errorf("%s.key_base: %d is negative", at, r.KeyBase)
	case r.Weight < 0:
		return fmt.Errorf("%s.weight: %v is negative", at, r.Weight)
	case r.Dist == DistZipf && r.ZipfS != 0 && r.ZipfS <= 1:
		return fmt.Errorf("%s.zipf_s: %v must be > 1", at, r.ZipfS)
	case r.Items != nil && !strings.Contains(r.Body, itemsPlaceholder):
		return fmt.Errorf("%s.items: the body has no %s", at, itemsPlaceholder)
	case r.Items == nil && strings.Contains(r.Body, itemsPlaceholder):
		return fmt.Errorf("%s.body: %s without items", at, itemsPlaceholder)
	case r.Items != nil && r.Items.Count < 1:
		return fmt.Errorf("%s.items.count: %d must be at least 1", at, r.Items.Count)
	}
	if r.Dist != "" {
		if err := r.Dist.validate(); err != nil {
			return fmt.Errorf("%s.dist: %w", at, err)
		}
	}
	uses := strings.Contains(r.Path+r.Body, keyPlaceholder) || (r.Items != nil && strings.Contains(r.Items.Template, keyPlaceholder))
	switch {
	case uses && r.Keys == 0:
		return fmt.Errorf("%s.keys: the request uses %s, so keys must be at least 1", at, keyPlaceholder)
	case !uses && r.Keys > 0:
		return fmt.Errorf("%s.keys: %d keys but neither path nor body uses %s", at, r.Keys, keyPlaceholder)
	}
	return nil
}

func (st *Storm) validate(at string) error {
	switch {
	case st.Rate <= 0:
		return fmt.Errorf("%s.rate: events/s must be positive", at)
	case !strings.Contains(st.Tag, keyPlaceholder):
		return fmt.Errorf("%s.tag: %q has no %s", at, st.Tag, keyPlaceholder)
	case st.Keys < 1:
		return fmt.Errorf("%s.keys: must be at least 1", at)
	case st.Via != "" && st.Via != "admin" && st.Via != "kafka":
		return fmt.Errorf("%s.via: %q is not admin or kafka", at, st.Via)
	}
	if st.Dist != "" {
		if err := st.Dist.validate(); err != nil {
			return fmt.Errorf("%s.dist: %w", at, err)
		}
	}
	return nil
}

const itemsPlaceholder = "{items}"

// body expands {items} into the body template.
func (r RequestSpec) body() string {
	if r.Items == nil {
		return r.Body
	}
	items := make([]string, r.Items.Count)
	for i := range items {
		items[i] = r.Items.Template
	}
	return strings.Replace(r.Body, itemsPlaceholder, strings.Join(items, ","), 1)
}

// Config is the load of sc against base (scheme://host:port), with the
// suite's defaults filled in.
func (sc *Scenario) Config(d Defaults, base string, headers []Header) Config {
	cfg := Config{
		Name: sc.Name, Headers: headers, Seed: 1, Rate: sc.Rate,
		Conns: sc.Conns, Duration: sc.Duration, Warmup: sc.Warmup, Timeout: sc.Timeout,
	}
	defaults.Set(&cfg.Conns, d.Conns)
	defaults.Set(&cfg.Duration, d.Duration)
	defaults.Set(&cfg.Warmup, d.Warmup)
	defaults.Set(&cfg.Timeout, d.Timeout)
	if sc.Ramp != nil {
		cfg.RampFrom, cfg.RampOver = sc.Ramp.From, sc.Ramp.Over
	}
	for _, r := range sc.Requests {
		cfg.Requests = append(cfg.Requests, Request{
			Method: r.Method, URL: strings.TrimRight(base, "/") + r.Path, Body: r.body(),
			Keys: r.Keys, KeyBase: r.KeyBase, Dist: r.Dist, ZipfS: r.ZipfS, Weight: r.Weight,
		})
	}
	return cfg
}

// prefillConfigs request every key of sc's keyed GET requests once, in
// order, closed loop, one run per request kind.
func (sc *Scenario) prefillConfigs(base string, headers []Header, conns int) []Config {
	var out []Config
	if !sc.Prefill {
		return nil
	}
	for _, r := range sc.Requests {
		if (r.Method != "" && r.Method != "GET") || r.Keys == 0 {
			continue
		}
		out = append(out, Config{
			Name:     sc.Name + " prefill",
			Requests: []Request{{URL: strings.TrimRight(base, "/") + r.Path, Keys: r.Keys, KeyBase: r.KeyBase, Dist: DistSeq}},
			Headers:  headers, Conns: conns, Count: int64(r.Keys), Duration: 10 * time.Minute,
		})
	}
	return out
}

// authOn and rateLimitOn resolve the gateway's defaults (both on).
func (sc *Scenario) authOn() bool      { return sc.Gateway.Auth == nil || *sc.Gateway.Auth }
func (sc *Scenario) rateLimitOn() bool { return sc.Gateway.RateLimit == nil || *sc.Gateway.RateLimit }
