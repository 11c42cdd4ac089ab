package features

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tiercel/tiercel/internal/testwait"
)

// feastServer is a small Feast-style feature server: it answers
// /get-online-features for view "remote" from a map, like Feast's Python
// server (entity columns first, plain JSON values).
type feastServer struct {
	*httptest.Server
	calls atomic.Int64
	fail  atomic.Bool
	fault *fault
	mu    sync.Mutex
	last  map[string]any
	rows  map[string]float64 // item id → score
}

func newFeastServer(t testing.TB) *feastServer {
	fs := &feastServer{rows: map[string]float64{"1": 0.5, "2": 0.75}, fault: newFault()}
	fs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fs.calls.Add(1)
		if fs.fault.apply(w, r) {
			return
		}
		if fs.fail.Load() || r.URL.Path != "/get-online-features" {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		var req struct {
			Features []string           `json:"features"`
			Entities map[string][]int64 `json:"entities"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		fs.mu.Lock()
		fs.last = map[string]any{"features": req.Features, "entities": req.Entities}
		fs.mu.Unlock()
		ids := req.Entities["item_id"]
		vals, st, ts := []any{}, []string{}, []string{}
		for _, id := range ids {
			if v, ok := fs.rows[json.Number(itoa(id)).String()]; ok {
				vals, st, ts = append(vals, v), append(st, "PRESENT"), append(ts, "2023-11-14T22:00:00Z")
			} else {
				vals, st, ts = append(vals, nil), append(st, "NOT_FOUND"), append(ts, "1970-01-01T00:00:00Z")
			}
		}
		resp := map[string]any{
			"metadata": map[string]any{"feature_names": []string{"item_id", "score"}},
			"results": []any{
				map[string]any{"values": ids, "statuses": repeat("PRESENT", len(ids)), "event_timestamps": repeat("1970-01-01T00:00:00Z", len(ids))},
				map[string]any{"values": vals, "statuses": st, "event_timestamps": ts},
			},
		}
		_ = json.NewEncoder(w).Encode(resp)
	}))
	t.Cleanup(fs.Close)
	fs.fault.releaseAtCleanup(t)
	return fs
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func httpRegistry(url string) Config {
	cfg := testRegistry()
	cfg.Views = append(cfg.Views, ViewConfig{Name: "remote_scores", Entities: []string{"item"},
		Features: []FeatureConfig{{Name: "score", Type: "float64", Default: -1}},
		Source:   SourceConfig{Type: "http", URL: url + "/get-online-features", UpstreamView: "remote", Timeout: 2 * time.Second, TTL: time.Minute}})
	return cfg
}

func TestHTTPViewBatchedAndCached(t *testing.T) {
	fs := newFeastServer(t)
	e := newEnv(t, httpRegistry(fs.URL))
	q := mustQuery(t, e.s, []string{"remote_scores:score"}, []string{"item_id"}, [][]string{{"1"}, {"2"}, {"3"}, {"1"}})
	res := mustGet(t, e.s, q)
	want := []struct {
		v  string
		st Status
	}{{"0.5", StatusPresent}, {"0.75", StatusPresent}, {"-1", StatusDefault}, {"0.5", StatusPresent}}
	for i, w := range want {
		if c := res.Cell(i, 0); string(c.Value) != w.v || c.Status != w.st {
			t.Errorf("row %d = %s %v, want %s %v", i, c.Value, c.Status, w.v, w.st)
		}
	}
	if n := fs.calls.Load(); n != 1 {
		t.Errorf("%d upstream calls, want one batch", n)
	}
	fs.mu.Lock()
	got, _ := json.Marshal(fs.last)
	fs.mu.Unlock()
	if len(got) != len(`{"entities":{"item_id":[1,2,3]},"features":["remote:score"]}`) {
		t.Errorf("upstream request %s", got)
	}
	// Cached: the next read makes no upstream call, from this process's L1...
	res2 := mustGet(t, e.s, q)
	if c := res2.Cell(1, 0); string(c.Value) != "0.75" || fs.calls.Load() != 1 {
		t.Errorf("second read: %s, %d calls", c.Value, fs.calls.Load())
	}
	// ...or, for another replica, from L2.
	s2, err := New(httpRegistry(fs.URL), Options{Redis: e.rdb, Cache: newCache(t, e)})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	s2.now = e.clk.Now
	testwait.For(t, 5*time.Second, "rows in L2", func() bool {
		// tiercel:e:{<slot tag>}fv:...: entries carry their slot tag (cache/l2.go).
		keys, _ := e.rdb.Keys(context.Background(), "tiercel:e:*fv:remote_scores:*").Result()
		return len(keys) == 3
	})
	res3 := mustGet(t, s2, mustQuery(t, s2, []string{"remote_scores:score"}, []string{"item_id"}, [][]string{{"2"}}))
	if c := res3.Cell(0, 0); string(c.Value) != "0.75" || fs.calls.Load() != 1 {
		t.Errorf("replica read: %s, %d calls", c.Value, fs.calls.Load())
	}
}

func TestHTTPViewDownAnswersIncomplete(t *testing.T) {
	fs := newFeastServer(t)
	fs.fail.Store(true)
	e := newEnv(t, httpRegistry(fs.URL))
	res := mustGet(t, e.s, mustQuery(t, e.s, []string{"remote_scores:score"}, []string{"item_id"}, [][]string{{"1"}, {"2"}}))
	if !res.Incomplete || res.Cell(0, 0).Status != StatusDefault || res.Cell(0, 0).Why != StatusNotFound {
		t.Errorf("upstream down: incomplete=%v %v", res.Incomplete, res.Cell(0, 0).Status)
	}
	if st := e.s.Stats(); st.UpstreamErrors != 1 || st.UpstreamCalls != 1 {
		t.Errorf("stats %+v", st)
	}
}
