package gateway

import (
	"context"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tiercel/tiercel/features"
	"github.com/tiercel/tiercel/internal/testwait"
)

// The shape: 100 entities × 50 features.
const benchEntities, benchFeatures = 100, 50

// newFeatureBenchServer is a gateway without listeners whose /v1/features
// route reads a 50-feature memory view with 100 rows in L1.
func newFeatureBenchServer(b *testing.B) (*Server, []byte) {
	s, bodies := newFeatureBenchServerAt(b, "")
	return s, bodies.native
}

// benchBodies are the same read in the gateway's shape (/v1/features) and
// Feast's (/get-online-features).
type benchBodies struct{ native, feast []byte }

// newFeatureBenchServerAt is newFeatureBenchServer, with a Feast route
// too; with a redisURL the view is a redis view whose rows never stay in
// L1 (a row_ttl of 1ns): every read is an L2 read.
func newFeatureBenchServerAt(b *testing.B, redisURL string) (*Server, benchBodies) {
	b.Helper()
	fs := make([]features.FeatureConfig, benchFeatures)
	refs := make([]string, benchFeatures)
	for i := range fs {
		fs[i] = features.FeatureConfig{Name: "f" + strconv.Itoa(i), Type: []string{"float64", "int64", "string", "bool"}[i%4]}
		refs[i] = `"wide:f` + strconv.Itoa(i) + `"`
	}
	cfg := testConfig("127.0.0.1:9")
	cfg.Server.MaxBodyBytes = 1 << 20
	cfg.Features = features.Config{
		RowTTL:   time.Hour,
		Entities: []features.EntityConfig{{Name: "user", JoinKeys: []features.JoinKeyConfig{{Name: "user_id"}}}},
		Views: []features.ViewConfig{{Name: "wide", Entities: []string{"user"}, Features: fs, MaxAge: 24 * time.Hour,
			Source: features.SourceConfig{Type: "memory"}}},
	}
	if redisURL != "" {
		cfg.Redis.URL = redisURL
		cfg.Features.RowTTL = time.Nanosecond
		cfg.Features.Views[0].Source.Type = "redis"
	}
	cfg.Routes = append(cfg.Routes, RouteConfig{Name: "features", Path: "/v1/features", Methods: []string{"POST"},
		Handler: "features", Auth: RouteAuth{Scopes: []string{"products:read"}}, RateLimit: "big"},
		RouteConfig{Name: "feast", Path: "/get-online-features", Methods: []string{"POST"},
			Handler: "feast", Auth: RouteAuth{Scopes: []string{"products:read"}}, RateLimit: "big"})
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	s, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.closeComponents)
	rows := make([]features.PushRow, benchEntities)
	ents := make([]string, benchEntities)
	ids := make([]string, benchEntities)
	for i := range rows {
		vals := map[string][]byte{}
		for j := range benchFeatures {
			vals["f"+strconv.Itoa(j)] = []byte([]string{`0.125`, `42`, `"FR"`, `true`}[j%4])
		}
		id := "u" + strconv.Itoa(i)
		rows[i] = features.PushRow{Entity: map[string]string{"user_id": id}, Values: vals}
		ents[i] = `{"user_id":"` + id + `"}`
		ids[i] = `"` + id + `"`
	}
	if err := s.current().features.Push(context.Background(), "wide", rows); err != nil {
		b.Fatal(err)
	}
	return s, benchBodies{
		native: []byte(`{"features":[` + strings.Join(refs, ",") + `],"entities":[` + strings.Join(ents, ",") + `]}`),
		feast:  []byte(`{"features":[` + strings.Join(refs, ",") + `],"entities":{"user_id":[` + strings.Join(ids, ",") + `]}}`),
	}
}

// newPostCtx is a POST as fasthttp would hand it to the handler.
func newPostCtx(path, tok string, body []byte) *fasthttp.RequestCtx {
	var req fasthttp.Request
	req.Header.SetMethod("POST")
	req.SetRequestURI(path)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.SetBody(body)
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, nil)
	return ctx
}

// BenchmarkFeatures100x50L1 is POST /v1/features for 100 entities × 50
// features, every row an L1 hit, through the whole gateway handler (route,
// JWT, rate limit, parse, lookup, render); "store" is the features.Store
// call alone, the baseline the gateway adds to.
func BenchmarkFeatures100x50L1(b *testing.B) {
	s, body := newFeatureBenchServer(b)
	ctx := newPostCtx("/v1/features", token(b, nil), body)
	// tb: a sub-benchmark must fail through its own B, on its goroutine.
	serve := func(tb testing.TB) {
		ctx.Response.Reset()
		s.handle(ctx)
		if ctx.Response.StatusCode() != 200 {
			tb.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
	// Warm up until a request is answered from L1 alone.
	testwait.For(b, 5*time.Second, "the rows to reach L1", func() bool {
		serve(b)
		s.current().features.Wait()
		before := s.current().features.Stats().RowL1Hits
		serve(b)
		return s.current().features.Stats().RowL1Hits-before == benchEntities
	})
	b.Run("gateway", func(b *testing.B) { benchLatencies(b, func() { serve(b) }) })
	b.Run("store", func(b *testing.B) {
		var dst []byte
		benchLatencies(b, func() {
			var err error
			if dst, err = s.current().features.ServeNative(context.Background(), body, dst[:0]); err != nil {
				b.Fatal(err)
			}
		})
	})
}

// benchLatencies runs f b.N times and reports p50/p99 and the cost per
// feature value next to ns/op: the goals are percentiles.
func benchLatencies(b *testing.B, f func()) {
	lat := make([]time.Duration, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		f()
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(benchEntities*benchFeatures), "ns/value")
}
