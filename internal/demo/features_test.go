package demo

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"gopkg.in/yaml.v3"

	"github.com/tiercel/tiercel/features"
	"github.com/tiercel/tiercel/internal/testredis"
)

// featureConfig is demo.yaml's features section, over a view of the given
// source ("memory", as the demo ships, or "redis").
func featureConfig(t *testing.T, source string) features.Config {
	t.Helper()
	var doc struct {
		Features features.Config `yaml:"features"`
	}
	if err := yaml.Unmarshal(Config, &doc); err != nil {
		t.Fatal(err)
	}
	cfg := doc.Features
	cfg.SeedDemo = false
	cfg.Views[0].Source.Type = source
	return cfg
}

func TestSeedFeaturesWithoutRedis(t *testing.T) {
	s, err := features.New(featureConfig(t, "memory"), features.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := SeedFeatures(ctx, s); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Pushes != Users {
		t.Errorf("%d rows seeded, want %d", st.Pushes, Users)
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
}

func TestSeedFeaturesRedis(t *testing.T) {
	srv := testredis.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, ContextTimeoutEnabled: true, MaxRetries: -1})
	defer rdb.Close()
	s, err := features.New(featureConfig(t, "redis"), features.Options{Redis: rdb})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := SeedFeatures(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if n, _ := rdb.DBSize(context.Background()).Result(); n != Users {
		t.Errorf("%d keys in Redis, want %d", n, Users)
	}
}

// The same seed gives the same rows, whatever the time.
func TestRowsDeterministic(t *testing.T) {
	a, b := Rows(3, time.Now()), Rows(3, time.Unix(0, 0))
	if string(a[2].Values["embedding"]) != string(b[2].Values["embedding"]) {
		t.Error("demo rows differ between calls")
	}
}
