package features

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/tiercel/tiercel/internal/jsonstr"
)

// DemoUsers is the number of users u1…uN the demo seeds.
const DemoUsers = 1000

// demoView is the view DemoRows fit.
const demoView = "user_stats"

// DemoConfig is the registry of the embedded demo: a user_stats view and
// a builtin logistic churn model over it. source is "memory" (the
// embedded demo, without Redis) or "redis".
func DemoConfig(source string) Config {
	zero, half := 0, 0.5
	return Config{
		Entities: []EntityConfig{{Name: "user", JoinKeys: []JoinKeyConfig{{Name: "user_id", Type: "string"}}}},
		Views: []ViewConfig{{
			Name: demoView, Entities: []string{"user"}, MaxAge: 7 * 24 * time.Hour,
			Source: SourceConfig{Type: source},
			Features: []FeatureConfig{
				{Name: "clicks_7d", Type: "int64", Default: zero},
				{Name: "ctr_7d", Type: "float64", Default: 0.0},
				{Name: "country", Type: "string"},
				{Name: "is_premium", Type: "bool", Default: false},
				{Name: "embedding", Type: "float32_vector[8]"},
			},
		}},
		Services: []FeatureServiceConfig{{Name: "churn_inputs", Features: demoInputs}},
		Models: []ModelConfig{{
			Name: "churn", Version: "1", Inputs: demoInputs, Default: &half,
			Backend: BackendConfig{Type: "builtin", Kind: "logistic", Weights: &Weights{
				Bias:    0.3,
				Weights: []float64{-0.02, -4, -1.2, 0.3, -0.2, 0.1, 0.05, -0.15, 0.25, -0.1, 0.2},
			}},
		}},
	}
}

var demoInputs = []string{"user_stats:clicks_7d", "user_stats:ctr_7d", "user_stats:is_premium", "user_stats:embedding"}

var demoCountries = []string{"FR", "DE", "US", "JP", "BR", "IN", "GB", "NG"}

// DemoRows returns the demo's deterministic synthetic rows for users
// u1…uN, with event time at.
func DemoRows(n int, at time.Time) []PushRow {
	rows := make([]PushRow, n)
	for i := range rows {
		id := i + 1
		h := splitmix(uint64(id))
		emb := []byte{'['}
		for d := range 8 {
			if d > 0 {
				emb = append(emb, ',')
			}
			x := float32(math.Sin(float64(id*(d+1))) / 2)
			emb = strconv.AppendFloat(emb, float64(x), 'g', -1, 32)
		}
		emb = append(emb, ']')
		rows[i] = PushRow{
			Entity: map[string]string{"user_id": "u" + strconv.Itoa(id)},
			Values: map[string][]byte{
				"clicks_7d":  strconv.AppendUint(nil, h%200, 10),
				"ctr_7d":     strconv.AppendFloat(nil, float64(h>>8%1000)/10000, 'g', -1, 64),
				"country":    jsonstr.Append(nil, demoCountries[h>>20%uint64(len(demoCountries))]),
				"is_premium": strconv.AppendBool(nil, h>>30%4 == 0),
				"embedding":  emb,
			},
			EventTime: at,
		}
	}
	return rows
}

// SeedDemo pushes the demo rows (event time now) to the demo view, in
// batches within the push limit.
func (s *Store) SeedDemo(ctx context.Context) error {
	rows := DemoRows(DemoUsers, s.now())
	step := s.reg.cfg.MaxEntities
	for i := 0; i < len(rows); i += step {
		if err := s.Push(ctx, demoView, rows[i:min(i+step, len(rows))]); err != nil {
			return fmt.Errorf("cannot seed demo: %w", err)
		}
	}
	return nil
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}
