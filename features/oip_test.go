package features

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// The client side of the Open Inference Protocol, against specServer.

// oipModelEnv is a Store with one OIP model "m" over clicks_7d (int64)
// and ctr_7d (float64) whose backend config mutate adjusts, and its log.
func oipModelEnv(t *testing.T, url string, def *float64, mutate func(*BackendConfig)) (*env, *syncBuffer) {
	t.Helper()
	cfg := testRegistry()
	b := BackendConfig{Type: "oip", URL: url}
	if mutate != nil {
		mutate(&b)
	}
	cfg.Models = []ModelConfig{{Name: "m", Version: "1", Inputs: []string{"user_stats:clicks_7d", "user_stats:ctr_7d"}, Default: def, Backend: b}}
	e := newEnv(t, cfg)
	logs := &syncBuffer{}
	e.s.log = slog.New(slog.NewTextHandler(logs, nil))
	return e, logs
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func predictRaw(e *env, rows ...[]float64) (*PredictResult, error) {
	return e.s.Predict(context.Background(), "m", &PredictRequest{Inputs: rows})
}

func modelErrs(s *Store, class string) uint64 {
	for _, e := range s.ModelErrorCounts() {
		if e.Class == class {
			return e.Calls
		}
	}
	return 0
}

func sumsOutput(ins []specTensor) ([]map[string]any, int, string) {
	ys := rowSums(ins)
	return []map[string]any{{"name": "y", "shape": []int{len(ys)}, "datatype": "FP64", "data": ys}}, 0, ""
}

// A server without versions serves only v2/models/<name>/infer (the spec:
// "The versions portion of the Path URLs (in []) is shown as optional");
// send_version: false reaches it. The default path is refused, and the
// refusal's text is logged and counted, not reduced to "status 400".
func TestOIPClientUnversionedServer(t *testing.T) {
	o := newSpecServer(t, "m", false, sumsOutput)
	e, logs := oipModelEnv(t, o.URL, nil, nil)
	if _, err := predictRaw(e, []float64{3, 0.25}); KindOf(err) != Unavailable {
		t.Fatalf("versioned path on an unversioned server: %v, want unavailable", err)
	}
	if n := modelErrs(e.s, "4xx"); n != 1 {
		t.Errorf("4xx model errors %d, want 1 (%+v)", n, e.s.ModelErrorCounts())
	}
	if l := logs.String(); !strings.Contains(l, "no endpoint POST /v2/models/m/versions/1/infer") || !strings.Contains(l, "status=400") {
		t.Errorf("the server's error text is not in the log: %s", l)
	}
	no := false
	e, _ = oipModelEnv(t, o.URL, nil, func(b *BackendConfig) { b.SendVersion = &no })
	res, err := predictRaw(e, []float64{3, 0.25})
	if err != nil || res.Rows[0] != (Prediction{3.25, SourceModel}) {
		t.Fatalf("send_version false: %+v %v", res, err)
	}
}

// A server answering a label first and probabilities second: the default
// reads outputs[0] (as always), output: names the one to read.
func TestOIPClientOutputByName(t *testing.T) {
	o := newSpecServer(t, "m", true, func(ins []specTensor) ([]map[string]any, int, string) {
		rows := ins[0].Shape[0]
		labels, probs := make([]int, rows), make([]float64, rows)
		for i := range rows {
			labels[i], probs[i] = 1, 0.875
		}
		return []map[string]any{
			{"name": "label", "shape": []int{rows}, "datatype": "INT64", "data": labels},
			{"name": "probability", "shape": []int{rows, 1}, "datatype": "FP32", "data": probs},
		}, 0, ""
	})
	e, _ := oipModelEnv(t, o.URL, nil, nil)
	if res, err := predictRaw(e, []float64{3, 0.25}); err != nil || res.Rows[0].Value != 1 {
		t.Fatalf("default output: %+v %v, want the first (label 1)", res, err)
	}
	e, _ = oipModelEnv(t, o.URL, nil, func(b *BackendConfig) { b.Output = "probability" })
	if res, err := predictRaw(e, []float64{3, 0.25}, []float64{4, 0.5}); err != nil || res.Rows[0].Value != 0.875 || res.Rows[1].Value != 0.875 {
		t.Fatalf("output probability: %+v %v", res, err)
	}
	e, logs := oipModelEnv(t, o.URL, nil, func(b *BackendConfig) { b.Output = "score" })
	if _, err := predictRaw(e, []float64{3, 0.25}); KindOf(err) != Unavailable || modelErrs(e.s, "bad_answer") != 1 {
		t.Fatalf("missing output: %v %+v", err, e.s.ModelErrorCounts())
	}
	if !strings.Contains(logs.String(), `no output \"score\"`) {
		t.Errorf("log: %s", logs.String())
	}
}

// Outputs nested ("Tensor Data": "in their natural multi-dimensional
// representation"), BOOL and integer outputs.
func TestOIPClientOutputDatatypes(t *testing.T) {
	// depth 1: flat [rows]; 2: [[y], ...] of shape [rows, 1]; 3: [rows, 1, 1].
	f := func(datatype string, depth int, elems []any, want ...float64) {
		t.Helper()
		o := newSpecServer(t, "m", true, func(ins []specTensor) ([]map[string]any, int, string) {
			rows := ins[0].Shape[0]
			data := make([]any, rows)
			for r := range rows {
				var v any = elems[int(ins[0].Values[r*2])] // row r asks for elems[clicks]
				for range depth - 1 {
					v = []any{v}
				}
				data[r] = v
			}
			shape := []int{rows, 1, 1}[:depth]
			return []map[string]any{{"name": "y", "shape": shape, "datatype": datatype, "data": data}}, 0, ""
		})
		e, _ := oipModelEnv(t, o.URL, nil, nil)
		rows := make([][]float64, len(want))
		for i := range rows {
			rows[i] = []float64{float64(i), 0}
		}
		res, err := predictRaw(e, rows...)
		if err != nil {
			t.Fatalf("%s %v: %v", datatype, elems, err)
		}
		for i, w := range want {
			if res.Rows[i].Value != w {
				t.Errorf("%s %v: row %d = %v, want %v", datatype, elems, i, res.Rows[i].Value, w)
			}
		}
	}
	f("FP64", 2, []any{0.5, 1.5}, 0.5, 1.5)
	f("FP32", 1, []any{0.25, -2}, 0.25, -2)
	f("BOOL", 2, []any{true, false}, 1, 0)
	f("BOOL", 1, []any{false, true}, 0, 1)
	f("INT64", 2, []any{7, -3}, 7, -3)
	f("UINT8", 1, []any{255, 0}, 255, 0)
	f("INT32", 3, []any{4, 5}, 4, 5)
}

// Input tensors by name and datatype, the request id (echoed, checked) and
// parameters.
func TestOIPClientInputTensorsIDAndParameters(t *testing.T) {
	o := newSpecServer(t, "m", true, sumsOutput)
	e, _ := oipModelEnv(t, o.URL, nil, func(b *BackendConfig) {
		b.InputTensors = []TensorConfig{{Name: "clicks", Datatype: "INT64", Width: 1}, {Name: "ctr", Datatype: "FP32", Width: 1}}
		b.RequestID = true
		b.Parameters = map[string]any{"threshold": 0.5, "explain": false, "tag": "gw"}
	})
	res, err := predictRaw(e, []float64{3, 0.25}, []float64{4, 0.5})
	if err != nil || res.Rows[0].Value != 3.25 || res.Rows[1].Value != 4.5 {
		t.Fatalf("%+v %v", res, err)
	}
	o.mu.Lock()
	req := o.last
	o.mu.Unlock()
	ins := req["inputs"].([]any)
	c, r := ins[0].(map[string]any), ins[1].(map[string]any)
	if c["name"] != "clicks" || c["datatype"] != "INT64" || r["name"] != "ctr" || r["datatype"] != "FP32" {
		t.Errorf("tensors: %v", ins)
	}
	if _, ok := req["id"].(string); !ok || req["parameters"].(map[string]any)["tag"] != "gw" {
		t.Errorf("id and parameters: %v", req)
	}
	// An input not representable in its datatype fails the call before
	// it is sent, and is counted as such.
	if _, err := predictRaw(e, []float64{3.5, 0.25}); KindOf(err) != Unavailable || modelErrs(e.s, "bad_input") != 1 {
		t.Errorf("3.5 as INT64: %v %+v", err, e.s.ModelErrorCounts())
	}
	o.badID.Store(true)
	if _, err := predictRaw(e, []float64{5, 0.25}); KindOf(err) != Unavailable || modelErrs(e.s, "bad_answer") != 1 {
		t.Errorf("another id echoed: %v %+v", err, e.s.ModelErrorCounts())
	}
}

// The server's error body on a 5xx is logged and counted; the row falls
// back to the default.
func TestOIPClientErrorBody(t *testing.T) {
	o := newSpecServer(t, "m", true, func([]specTensor) ([]map[string]any, int, string) {
		return nil, 500, "model crashed: out of memory"
	})
	def := -1.0
	e, logs := oipModelEnv(t, o.URL, &def, nil)
	res, err := predictRaw(e, []float64{3, 0.25})
	if err != nil || res.Rows[0] != (Prediction{-1, SourceDefault}) {
		t.Fatalf("%+v %v", res, err)
	}
	if modelErrs(e.s, "5xx") != 1 || !strings.Contains(logs.String(), "model crashed: out of memory") {
		t.Errorf("counts %+v, log %s", e.s.ModelErrorCounts(), logs.String())
	}
}
