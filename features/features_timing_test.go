package features

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The shape: 100 entities × 50 features of one redis view.
const benchEntities, benchFeatures = 100, 50

func benchRegistry() Config {
	fs := make([]FeatureConfig, benchFeatures)
	for i := range fs {
		fs[i] = FeatureConfig{Name: "f" + strconv.Itoa(i), Type: []string{"float64", "int64", "string", "bool"}[i%4]}
	}
	return Config{
		Entities: []EntityConfig{{Name: "user", JoinKeys: []JoinKeyConfig{{Name: "user_id"}}}},
		Views:    []ViewConfig{{Name: "wide", Entities: []string{"user"}, Features: fs, MaxAge: 24 * time.Hour}},
		RowTTL:   time.Hour,
	}
}

func benchSetup(b *testing.B) (*env, *Query) {
	e := newEnv(b, benchRegistry())
	rows := make([]PushRow, benchEntities)
	keys := make([][]string, benchEntities)
	for i := range rows {
		vals := map[string][]byte{}
		for j := range benchFeatures {
			vals["f"+strconv.Itoa(j)] = []byte([]string{`0.125`, `42`, `"FR"`, `true`}[j%4])
		}
		id := "u" + strconv.Itoa(i)
		rows[i] = PushRow{Entity: map[string]string{"user_id": id}, Values: vals, EventTime: e.clk.Now()}
		keys[i] = []string{id}
	}
	if err := e.s.Push(context.Background(), "wide", rows); err != nil {
		b.Fatal(err)
	}
	refs := make([]string, benchFeatures)
	for j := range refs {
		refs[j] = "wide:f" + strconv.Itoa(j)
	}
	return e, mustQuery(b, e.s, refs, []string{"user_id"}, keys)
}

// latencies reports p50/p99 next to ns/op: the goals are
// percentiles.
type latencies []time.Duration

func (l latencies) report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	slices.Sort(l)
	b.ReportMetric(float64(l[len(l)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(l[len(l)*99/100].Microseconds()), "p99-µs")
}

func perValue(b *testing.B) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(benchEntities*benchFeatures), "ns/value")
}

func BenchmarkGet100x50L1(b *testing.B) {
	e, q := benchSetup(b)
	ctx := context.Background()
	waitFor(b, "rows in L1", func() bool {
		p := e.hc.pipelines.Load()
		res, _ := e.s.Get(ctx, q)
		res.Release()
		return e.hc.pipelines.Load() == p
	})
	for _, render := range []bool{false, true} {
		b.Run(fmt.Sprintf("render=%v", render), func(b *testing.B) {
			var buf []byte
			lat := make(latencies, 0, b.N)
			b.ReportAllocs()
			for b.Loop() {
				t := time.Now()
				res, _ := e.s.Get(ctx, q)
				if render {
					buf = res.AppendNative(buf[:0])
				}
				res.Release()
				lat = append(lat, time.Since(t))
			}
			perValue(b)
			lat.report(b)
		})
	}
}

// BenchmarkGet100x50L2: every row misses L1 (the clock jumps past RowTTL
// each time) and is read from Redis in one pipeline.
func BenchmarkGet100x50L2(b *testing.B) {
	e, q := benchSetup(b)
	ctx := context.Background()
	lat := make(latencies, 0, b.N)
	b.ReportAllocs()
	for b.Loop() {
		e.clk.Advance(2 * time.Hour)
		e.s.reg.views["wide"].maxAge = 0
		t := time.Now()
		res, _ := e.s.Get(ctx, q)
		if res.Incomplete {
			b.Fatal("incomplete")
		}
		res.Release()
		lat = append(lat, time.Since(t))
	}
	perValue(b)
	lat.report(b)
}

// BenchmarkRawPipeline100HMGET50 is the L2 limit: the same HMGETs through
// go-redis, nothing else.
func BenchmarkRawPipeline100HMGET50(b *testing.B) {
	e, q := benchSetup(b)
	ctx := context.Background()
	keys := make([]string, len(q.Rows))
	for i, r := range q.Rows {
		keys[i] = "tiercel:fv:wide:" + r[0]
	}
	fields := e.s.reg.views["wide"].fields
	lat := make(latencies, 0, b.N)
	b.ReportAllocs()
	for b.Loop() {
		t := time.Now()
		_, err := e.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range keys {
				p.HMGet(ctx, k, fields...)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t))
	}
	perValue(b)
	lat.report(b)
}

func BenchmarkPredictCached(b *testing.B) {
	e := newEnv(b, DemoConfig("redis"))
	ctx := context.Background()
	if err := e.s.SeedDemo(ctx); err != nil {
		b.Fatal(err)
	}
	req := &PredictRequest{JoinKeys: []string{"user_id"}, Rows: [][]string{{"u42"}}}
	waitFor(b, "prediction cached", func() bool {
		res, err := e.s.Predict(ctx, "churn", req)
		return err == nil && res.Rows[0].Source == SourceCache
	})
	lat := make(latencies, 0, b.N)
	b.ReportAllocs()
	for b.Loop() {
		t := time.Now()
		res, err := e.s.Predict(ctx, "churn", req)
		if err != nil || res.Rows[0].Source != SourceCache {
			b.Fatalf("%v %+v", err, res)
		}
		lat = append(lat, time.Since(t))
	}
	lat.report(b)
}
