package features

import (
	"context"
	"strings"
	"testing"
)

func TestDemoWithoutRedis(t *testing.T) {
	s, err := New(DemoConfig("memory"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.SeedDemo(ctx); err != nil {
		t.Fatal(err)
	}
	out, err := s.ServeNative(ctx, []byte(`{"features":["user_stats:clicks_7d","user_stats:country","user_stats:embedding"],"entities":[{"user_id":"u1"},{"user_id":"u1000"},{"user_id":"u1001"}]}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(out), `"PRESENT"`) != 6 || !strings.Contains(string(out), `"DEFAULT","NOT_FOUND","NOT_FOUND"`) {
		t.Errorf("demo features: %s", out)
	}
	out, err = s.ServePredict(ctx, "churn", []byte(`{"entities":[{"user_id":"u7"},{"user_id":"u1001"}]}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"source":"model"`) {
		t.Errorf("demo churn: %s", out)
	}
	// Deterministic: the same seed gives the same rows.
	a, b := DemoRows(3, s.now()), DemoRows(3, s.now())
	if string(a[2].Values["embedding"]) != string(b[2].Values["embedding"]) {
		t.Error("demo rows differ between calls")
	}
}

func TestDemoSeedsRedis(t *testing.T) {
	e := newEnv(t, DemoConfig("redis"))
	if err := e.s.SeedDemo(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n, _ := e.rdb.DBSize(context.Background()).Result(); n != DemoUsers {
		t.Errorf("%d keys in Redis, want %d", n, DemoUsers)
	}
}

func TestSeedDemoAtNew(t *testing.T) {
	cfg := DemoConfig("memory")
	cfg.SeedDemo = true
	s, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if st := s.Stats(); st.Pushes != DemoUsers {
		t.Errorf("%d rows seeded, want %d", st.Pushes, DemoUsers)
	}
	// Only a memory view can be seeded at start: New must not dial Redis.
	cfg = DemoConfig("redis")
	cfg.SeedDemo = true
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "seed_demo: needs a view \"user_stats\" with source memory") {
		t.Errorf("seed_demo over a redis view: %v", err)
	}
}

func TestNewWithNothingToServe(t *testing.T) {
	cfg := Config{Entities: DemoConfig("memory").Entities}
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
