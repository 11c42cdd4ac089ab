package features

import (
	"strings"
	"testing"
	"time"

	"github.com/tiercel/tiercel/internal/breaker"
)

func TestParseType(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		typ, err := ParseType(in)
		got := ""
		if err != nil {
			got = "error"
		} else {
			got = typ.String()
		}
		if got != want {
			t.Errorf("ParseType(%q) = %s, want %s", in, got, want)
		}
	}
	f("int64", "int64")
	f("list<float64>", "list<float64>")
	f("float32_vector[8]", "float32_vector[8]")
	f("int128", "error")
	f("list<list<int64>>", "error")
	f("float32_vector[0]", "error")
	f("float32_vector[x]", "error")
	f("list<float32>", "error")
}

func TestConfigValidate(t *testing.T) {
	if err := testRegistry().Validate(); err != nil {
		t.Fatalf("valid registry: %v", err)
	}
	f := func(mutate func(c *Config), wants ...string) {
		t.Helper()
		c := testRegistry()
		mutate(&c)
		err := c.Validate()
		if err == nil {
			t.Fatalf("want errors %q, got none", wants)
		}
		for _, w := range wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not contain %q", err, w)
			}
		}
	}
	f(func(c *Config) { c.Views[0].Features[2].Type = "int128" },
		`views[0].features[2].type: unknown type "int128"`)
	f(func(c *Config) {
		c.Views[1].Features[0].Type = "bytes"
		c.Views[0].Entities = []string{"nobody"}
	}, `views[1].features[0].type: unknown type "bytes"`, `views[0].entities[0]: unknown entity "nobody"`)
	f(func(c *Config) { c.Views[0].Features[0].Default = "zero" },
		`views[0].features[0].default: want int64, got a string`)
	f(func(c *Config) { c.Views[0].Features[5].Default = []float64{1, 2} },
		`views[0].features[5].default: want float32_vector[4], got 2 elements`)
	f(func(c *Config) { c.Views[0].Features[1].Name = "clicks_7d" }, `duplicate feature "clicks_7d"`)
	f(func(c *Config) { c.Views[0].Source = SourceConfig{Type: "http", URL: "ftp://x"} }, `views[0].source.url`)
	f(func(c *Config) { c.Views[0].Source.Type = "kafka" }, `views[0].source.type: unknown source "kafka"`)
	f(func(c *Config) { c.Views[0].MaxAge = -time.Second }, `views[0].max_age`)
	f(func(c *Config) { c.Entities[1].JoinKeys[0].Type = "uuid" }, `entities[1].join_keys[0].type`)
	f(func(c *Config) { c.Entities[1].JoinKeys[0].Name = "user_id" }, `join key "user_id" is string in another entity`)
	f(func(c *Config) { c.Services[0].Features = []string{"user_stats:nope", "nope:x", "bad"} },
		`feature_services[0].features[0]: unknown feature "nope"`, `features[1]: unknown view "nope"`, `features[2]: "bad" is not a view:feature ref`)
	f(func(c *Config) { c.MaxEntities = -1 }, `max_entities`)
	f(func(c *Config) {
		c.Models = []ModelConfig{{Name: "m", Inputs: []string{"user_stats:country"}, Backend: BackendConfig{Type: "builtin", Kind: "tree"}}}
	}, `models[0].version`, `models[0].inputs[0]: user_stats:country has type string`, `models[0].backend.kind: unknown builtin model "tree"`)
	f(func(c *Config) {
		c.Models = []ModelConfig{{Name: "m", Version: "1", Inputs: []string{"user_stats:clicks_7d"},
			Backend: BackendConfig{Type: "builtin", Kind: "linear", Weights: &Weights{Weights: []float64{1, 2}}}}}
	}, `models[0].backend: 2 weights for 1 inputs`)
	f(func(c *Config) {
		c.Models = []ModelConfig{{Name: "m", Version: "1", Inputs: []string{"user_stats:clicks_7d"}, Backend: BackendConfig{Type: "oip", URL: "nope"}}}
	}, `models[0].backend.url`)
}

// Every problem is an error of its own (errors.Join), one line each.
func TestConfigValidateLines(t *testing.T) {
	c := testRegistry()
	c.MaxEntities = -1
	c.Breaker.Cooldown = -1
	c.Views[0].Source = SourceConfig{Type: "http", URL: "http://x/get-online-features", Breaker: breaker.Config{Cooldown: -1}}
	err := c.Validate()
	want := []string{
		"max_entities: must be >= 1",
		"breaker.cooldown: must not be negative",
		"views[0].source.breaker.cooldown: must not be negative",
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Fatalf("Validate = %v, want %q", err, want)
	}
	if n := len(err.(interface{ Unwrap() []error }).Unwrap()); n != len(want) {
		t.Errorf("%d joined errors, want %d", n, len(want))
	}
}

func TestZeroConfigIsValid(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Fatal(err)
	}
}

// Only a memory view can be seeded at start: the gateway must not dial
// Redis to build a Store.
func TestSeedDemoNeedsMemoryView(t *testing.T) {
	cfg := churnRegistry("memory")
	cfg.SeedDemo = true
	if err := cfg.Validate(); err != nil {
		t.Errorf("seed_demo over the memory view: %v", err)
	}
	cfg = churnRegistry("redis")
	cfg.SeedDemo = true
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "seed_demo: needs a view \"user_stats\" with source memory") {
		t.Errorf("seed_demo over a redis view: %v", err)
	}
}

func TestNewWithNothingToServe(t *testing.T) {
	cfg := Config{Entities: churnRegistry("memory").Entities}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("an empty registry is a valid config section: %v", err)
	}
	if s, err := New(cfg, Options{}); err == nil || !strings.Contains(err.Error(), "no views and no models") {
		if s != nil {
			s.Close()
		}
		t.Errorf("New with nothing to serve: %v", err)
	}
}
