package features

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tiercel/tiercel/internal/testwait"
)

// oipServer is a small Open Inference Protocol model server: y = sum of
// the inputs of each row, plus the version's offset.
type oipServer struct {
	*httptest.Server
	calls atomic.Int64
	down  atomic.Bool
	fault *fault
	mu    sync.Mutex
	paths []string
	rows  []int
}

func newOIPServer(t testing.TB) *oipServer {
	o := &oipServer{fault: newFault()}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.calls.Add(1)
		if o.fault.apply(w, r) {
			return
		}
		if o.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		var req struct {
			Inputs []struct {
				Name     string    `json:"name"`
				Shape    []int     `json:"shape"`
				Datatype string    `json:"datatype"`
				Data     []float64 `json:"data"`
			} `json:"inputs"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Inputs) != 1 || req.Inputs[0].Datatype != "FP64" {
			http.Error(w, "bad request", 400)
			return
		}
		in := req.Inputs[0]
		o.mu.Lock()
		o.paths = append(o.paths, r.URL.Path)
		o.rows = append(o.rows, in.Shape[0])
		o.mu.Unlock()
		offset := 0.0
		if strings.Contains(r.URL.Path, "/versions/2/") {
			offset = 1000
		}
		out := make([]float64, in.Shape[0])
		for i := range out {
			for _, f := range in.Data[i*in.Shape[1] : (i+1)*in.Shape[1]] {
				out[i] += f
			}
			out[i] += offset
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"model_name": "m", "outputs": []any{
			map[string]any{"name": "y", "shape": []int{len(out), 1}, "datatype": "FP64", "data": out}}})
	}))
	t.Cleanup(o.Close)
	o.fault.releaseAtCleanup(t)
	return o
}

func predictRegistry(oipURL, version string, def *float64) Config {
	cfg := testRegistry()
	cfg.Models = []ModelConfig{{
		Name: "churn", Version: "1", Inputs: []string{"user_stats:clicks_7d", "user_stats:is_premium", "user_stats:embedding"},
		Backend: BackendConfig{Type: "builtin", Kind: "logistic", Weights: &Weights{Bias: -1, Weights: []float64{0.1, -1, 0.5, 0.5, 0.5, 0.5}}},
	}, {
		Name: "sum", Version: version, Inputs: []string{"user_stats:clicks_7d", "user_stats:ctr_7d"}, Default: def,
		Backend: BackendConfig{Type: "oip", URL: oipURL, ModelName: "summer"},
	}}
	return cfg
}

func predict(t *testing.T, s *Store, model string, body string) (*PredictResult, error) {
	t.Helper()
	req, err := s.ParsePredict([]byte(body))
	if err != nil {
		t.Fatalf("ParsePredict: %v", err)
	}
	return s.Predict(context.Background(), model, req)
}

func TestBuiltinPrediction(t *testing.T) {
	e := newEnv(t, predictRegistry("http://127.0.0.1:1", "1", nil))
	pushUser(t, e, "u1", e.clk.Now())
	res, err := predict(t, e.s, "churn", `{"entities":[{"user_id":"u1"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	// clicks 12, premium true, embedding 1,0.5,-2,0.003.
	want := 1 / (1 + math.Exp(-(-1 + 1.2 - 1 + 0.5*(1+0.5-2+float64(float32(0.003))))))
	if p := res.Rows[0]; math.Abs(p.Value-want) > 1e-6 || p.Source != SourceModel {
		t.Errorf("churn(u1) = %v %v, want %v model", p.Value, p.Source, want)
	}
	out := res.AppendPredict(nil)
	if !json.Valid(out) || !strings.Contains(string(out), `"entity":{"user_id":"u1"},"value":0.`) {
		t.Errorf("rendered %s", out)
	}
	// Raw inputs of the same vector share the cached prediction.
	raw, err := predict(t, e.s, "churn", `{"inputs":[[12,1,1,0.5,-2,0.003000000026077032]]}`)
	if err != nil || raw.Rows[0].Source != SourceCache || raw.Rows[0].Value != res.Rows[0].Value {
		t.Errorf("raw inputs: %+v %v", raw, err)
	}
}

func setClicks(t *testing.T, e *env, id string, n int) {
	t.Helper()
	if err := e.s.Push(context.Background(), "user_stats", []PushRow{{Entity: map[string]string{"user_id": id},
		Values: map[string][]byte{"clicks_7d": raw(n), "ctr_7d": raw(0.25)}, EventTime: e.clk.Now()}}); err != nil {
		t.Fatal(err)
	}
}

func TestPredictionCacheAndKeySpaces(t *testing.T) {
	o := newOIPServer(t)
	e := newEnv(t, predictRegistry(o.URL, "1", nil))
	setClicks(t, e, "u1", 12)
	setClicks(t, e, "u2", 5)
	body := `{"entities":[{"user_id":"u1"},{"user_id":"u2"}]}`
	f := func(s *Store, wantCalls int64, want ...Prediction) {
		t.Helper()
		res, err := predict(t, s, "sum", body)
		if err != nil {
			t.Fatal(err)
		}
		for i, w := range want {
			if res.Rows[i] != w {
				t.Errorf("row %d = %+v, want %+v", i, res.Rows[i], w)
			}
		}
		if n := o.calls.Load(); n != wantCalls {
			t.Errorf("%d model calls, want %d", n, wantCalls)
		}
	}
	f(e.s, 1, Prediction{12.25, SourceModel}, Prediction{5.25, SourceModel})
	if o.rows[0] != 2 || o.paths[0] != "/v2/models/summer/versions/1/infer" {
		t.Errorf("rows=%v paths=%v: want one batched call of 2 rows", o.rows, o.paths)
	}
	testwait.For(t, 5*time.Second, "predictions cached", func() bool {
		res, _ := predict(t, e.s, "sum", body)
		return res.Rows[0].Source == SourceCache && res.Rows[1].Source == SourceCache
	})
	f(e.s, 1, Prediction{12.25, SourceCache}, Prediction{5.25, SourceCache})

	// A feature change is a new input vector: a new prediction.
	setClicks(t, e, "u1", 20)
	f(e.s, 2, Prediction{20.25, SourceModel}, Prediction{5.25, SourceCache})

	// A new model version starts a new key space, even on the same cache.
	s2, err := New(predictRegistry(o.URL, "2", nil), Options{Redis: e.rdb, Cache: e.c})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	s2.now = e.clk.Now
	f(s2, 3, Prediction{1020.25, SourceModel}, Prediction{1005.25, SourceModel})
}

func TestPredictionFallbacks(t *testing.T) {
	o := newOIPServer(t)
	def := -1.0
	e := newEnv(t, predictRegistry(o.URL, "1", &def))
	setClicks(t, e, "u1", 1)
	if _, err := predict(t, e.s, "sum", `{"entities":[{"user_id":"u1"}]}`); err != nil {
		t.Fatal(err)
	}
	e.s.lg.wait()
	o.down.Store(true)
	setClicks(t, e, "u1", 2) // a new vector: the cache cannot answer
	res, err := predict(t, e.s, "sum", `{"entities":[{"user_id":"u1"},{"user_id":"u2"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows[0] != (Prediction{1.25, SourceStale}) || res.Rows[1] != (Prediction{-1, SourceDefault}) {
		t.Errorf("model down: %+v, want last good (stale) then default", res.Rows)
	}
	// Without a default: Unavailable.
	e2 := newEnv(t, predictRegistry(o.URL, "1", nil))
	setClicks(t, e2, "u1", 3)
	_, err = predict(t, e2.s, "sum", `{"entities":[{"user_id":"u1"}]}`)
	if KindOf(err) != Unavailable || !strings.Contains(err.Error(), "sum@1 is unavailable") {
		t.Errorf("no fallback: %v, want Unavailable", err)
	}
	if st := e.s.Stats(); st.PredStale != 1 || st.PredDefault != 1 || st.ModelErrors != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestPredictBadRequests(t *testing.T) {
	e := newEnv(t, predictRegistry("http://127.0.0.1:1", "1", nil))
	f := func(model, body string, kind Kind, want string) {
		t.Helper()
		_, err := e.s.ServePredict(context.Background(), model, []byte(body), nil)
		if KindOf(err) != kind || !strings.Contains(err.Error(), want) {
			t.Errorf("%s %s: %v, want %v %q", model, body, err, kind, want)
		}
	}
	f("nope", `{}`, NotFound, `unknown model "nope"`)
	f("churn", `{`, BadRequest, "malformed")
	f("churn", `{}`, BadRequest, "no entities or inputs")
	f("churn", `{"inputs":[]}`, BadRequest, "no entities or inputs")
	f("churn", `{"entities":[{"user_id":"u"}],"inputs":[[1]]}`, BadRequest, "not both")
	f("churn", `{"inputs":[[1,2]]}`, BadRequest, "inputs[0]: 2 values, model churn@1 takes 6")
	f("churn", `{"entities":[{"user":"u"}]}`, BadRequest, `unknown join key "user"`)
	f("churn", `{"entities":[{"user_id":1}]}`, BadRequest, `want a string`)
	f("churn", `{"inputs":[[1,2,3,4,5,"x"]]}`, BadRequest, "malformed")
}

func FuzzParsePredict(f *testing.F) {
	f.Add([]byte(`{"entities":[{"user_id":"u1"}]}`))
	f.Add([]byte(`{"inputs":[[1,2,3,4,5,6]]}`))
	s := fuzzStore(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := s.ParsePredict(body)
		if err != nil {
			if KindOf(err) == 0 {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if req.Inputs == nil && req.Rows == nil {
			t.Fatal("parsed request without rows")
		}
	})
}
