package features

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tiercel/tiercel/internal/testwait"
)

// The shape: 100 entities × 50 features of one redis view.
const benchEntities, benchFeatures = 100, 50

// benchRegistry has the shape: view "wide".
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

// benchSetup pushes 100 rows of 50 features to the view and returns the
// query of them, by view name.
func benchSetup(b *testing.B) (*env, map[string]*Query) {
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
	qs := map[string]*Query{}
	for _, view := range []string{"wide"} {
		if err := e.s.Push(context.Background(), view, rows); err != nil {
			b.Fatal(err)
		}
		refs := make([]string, benchFeatures)
		for j := range refs {
			refs[j] = view + ":f" + strconv.Itoa(j)
		}
		qs[view] = mustQuery(b, e.s, refs, []string{"user_id"}, keys)
	}
	return e, qs
}

// latencies reports p50/p99 next to ns/op: the goals are
// percentiles.
type latencies []time.Duration

func (l latencies) report(b *testing.B, prefix string) {
	if len(l) == 0 {
		return
	}
	slices.Sort(l)
	b.ReportMetric(float64(l[len(l)/2].Microseconds()), prefix+"p50-µs")
	b.ReportMetric(float64(l[len(l)*99/100].Microseconds()), prefix+"p99-µs")
}

// perValue reports the time and the allocations (of the whole process,
// from mallocs0 on) per feature value.
func perValue(b *testing.B, mallocs0 uint64) {
	n := float64(b.N) * benchEntities * benchFeatures
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/value")
	b.ReportMetric(float64(mallocs()-mallocs0)/n, "allocs/value")
}

func mallocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}

func BenchmarkGet100x50L1(b *testing.B) {
	e, qs := benchSetup(b)
	q := qs["wide"]
	ctx := context.Background()
	testwait.For(b, 5*time.Second, "rows in L1", func() bool {
		p := e.hc.pipelines.Load()
		res, _ := e.s.Get(ctx, q)
		res.Release()
		e.s.Wait()
		return e.hc.pipelines.Load() == p
	})
	for _, render := range []bool{false, true} {
		b.Run(fmt.Sprintf("render=%v", render), func(b *testing.B) {
			var buf []byte
			lat := make(latencies, 0, b.N)
			b.ReportAllocs()
			m0 := mallocs()
			for b.Loop() {
				t := time.Now()
				res, _ := e.s.Get(ctx, q)
				if render {
					buf = res.AppendNative(buf[:0])
				}
				res.Release()
				lat = append(lat, time.Since(t))
			}
			perValue(b, m0)
			lat.report(b, "")
		})
	}
}

// l2Read is one store-level read of q with every row missing L1: the
// clock jumps past RowTTL first (max_age is off, so values stay PRESENT).
func l2Read(b *testing.B, e *env, q *Query) {
	e.clk.Advance(2 * time.Hour)
	res, _ := e.s.Get(context.Background(), q)
	if res.Incomplete || res.Cells[len(res.Cells)-1].Status != StatusPresent {
		b.Fatal("incomplete")
	}
	res.Release()
}

// rawMGET is the L2 limit of a store read: the same reads (one MGET
// of the 100 row keys, replies as strings) through go-redis, nothing else.
func rawMGET(b *testing.B, e *env, keys []any) {
	ctx := context.Background()
	pipe := e.rdb.Pipeline()
	cmd := redis.NewStringSliceCmd(ctx, keys...)
	_ = pipe.Process(ctx, cmd)
	if _, err := pipe.Exec(ctx); err != nil || len(cmd.Val()[len(keys)-2]) == 0 {
		b.Fatal(err)
	}
}

// BenchmarkL2 reads 100 entities × 50 features from Redis: the store
// (read, check, decode, L1 store, cells) and the raw go-redis pipeline of
// the same reads. Allocations per value are the whole
// process's (go-redis and ristretto included).
func BenchmarkL2(b *testing.B) {
	e, qs := benchSetup(b)
	e.s.reg.views["wide"].maxAge = 0
	mget := benchKeys(qs["wide"])
	for _, c := range []struct {
		name string
		read func(b *testing.B)
	}{
		{"store/packed", func(b *testing.B) { l2Read(b, e, qs["wide"]) }},
		{"raw/MGET", func(b *testing.B) { rawMGET(b, e, mget) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			lat := make(latencies, 0, b.N)
			b.ReportAllocs()
			m0 := mallocs()
			for b.Loop() {
				t := time.Now()
				c.read(b)
				lat = append(lat, time.Since(t))
			}
			perValue(b, m0)
			lat.report(b, "")
		})
	}
}

// BenchmarkL2SideBySide alternates, request by request, the store-level
// packed read and the raw MGET pipeline of the same rows, so that both see
// the same machine load: on a shared machine only such a pair compares.
func BenchmarkL2SideBySide(b *testing.B) {
	e, qs := benchSetup(b)
	e.s.reg.views["wide"].maxAge = 0
	mget := benchKeys(qs["wide"])
	store := make(latencies, 0, b.N)
	raw := make(latencies, 0, b.N)
	for b.Loop() {
		t := time.Now()
		l2Read(b, e, qs["wide"])
		store = append(store, time.Since(t))
		t = time.Now()
		rawMGET(b, e, mget)
		raw = append(raw, time.Since(t))
	}
	store.report(b, "store-")
	raw.report(b, "raw-")
}

// benchKeys are the MGET arguments of q's rows.
func benchKeys(q *Query) []any {
	mget := []any{"mget"}
	for _, r := range q.Rows {
		mget = append(mget, "tiercel:fv:wide:"+r[0])
	}
	return mget
}

func BenchmarkPredictCached(b *testing.B) {
	e := newEnv(b, churnRegistry("redis"))
	ctx := context.Background()
	row := PushRow{Entity: map[string]string{"user_id": "u42"}, Values: map[string][]byte{
		"clicks_7d": []byte("17"), "ctr_7d": []byte("0.03"), "is_premium": []byte("true"),
		"embedding": []byte("[0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8]")}}
	if err := e.s.Push(ctx, "user_stats", []PushRow{row}); err != nil {
		b.Fatal(err)
	}
	req := &PredictRequest{JoinKeys: []string{"user_id"}, Rows: [][]string{{"u42"}}}
	testwait.For(b, 5*time.Second, "prediction cached", func() bool {
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
	lat.report(b, "")
}

// BenchmarkParseNative100x50: the hand parser of POST /v1/features next to
// encoding/json decoding the same body (parseNativeStd), the parser it
// replaced.
func BenchmarkParseNative100x50(b *testing.B) {
	s, err := New(benchRegistry(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	body := []byte(`{"features":[`)
	for j := range benchFeatures {
		if j > 0 {
			body = append(body, ',')
		}
		body = append(body, `"wide:f`+strconv.Itoa(j)+`"`...)
	}
	body = append(body, `],"entities":[`...)
	for i := range benchEntities {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, `{"user_id":"u`+strconv.Itoa(i)+`"}`...)
	}
	body = append(body, "]}"...)
	for _, c := range []struct {
		name  string
		parse func([]byte) error
	}{
		{"hand", func(body []byte) error { _, _, _, err := s.parseNative(body); return err }},
		{"encoding-json", func(body []byte) error { _, _, _, err := parseNativeStd(s, body); return err }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := c.parse(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
