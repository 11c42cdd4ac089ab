package demo

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/tiercel/tiercel/features"
	"github.com/tiercel/tiercel/internal/jsonstr"
)

// Users is the number of users u1…uN SeedFeatures pushes.
const Users = 1000

// featureView is demo.yaml's view, the one Rows fit. features refuses
// seed_demo unless a memory view has this name.
const featureView = "user_stats"

var countries = []string{"FR", "DE", "US", "JP", "BR", "IN", "GB", "NG"}

// Rows returns the demo's deterministic synthetic rows for users u1…uN,
// with event time at (zero: the Store's clock when pushed).
func Rows(n int, at time.Time) []features.PushRow {
	rows := make([]features.PushRow, n)
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
		rows[i] = features.PushRow{
			Entity: map[string]string{"user_id": "u" + strconv.Itoa(id)},
			Values: map[string][]byte{
				"clicks_7d":  strconv.AppendUint(nil, h%200, 10),
				"ctr_7d":     strconv.AppendFloat(nil, float64(h>>8%1000)/10000, 'g', -1, 64),
				"country":    jsonstr.Append(nil, countries[h>>20%uint64(len(countries))]),
				"is_premium": strconv.AppendBool(nil, h>>30%4 == 0),
				"embedding":  emb,
			},
			EventTime: at,
		}
	}
	return rows
}

// SeedFeatures pushes the demo rows to the demo view of s, in batches
// within the push limit, with the Store's clock as event time. The gateway
// calls it for a features section with seed_demo: true.
func SeedFeatures(ctx context.Context, s *features.Store) error {
	rows := Rows(Users, time.Time{})
	step := s.MaxEntities()
	for i := 0; i < len(rows); i += step {
		if err := s.Push(ctx, featureView, rows[i:min(i+step, len(rows))]); err != nil {
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
