package features

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// specServer is a strict Open Inference Protocol model server written
// from the spec (kserve/open-inference-protocol,
// specification/protocol/inference_rest.md; kserve
// docs/predict-api/v2/required_api.md), not from Tiercel's client: it
// checks every request against "Inference Request JSON Object" and
// "Request Input" and the "Tensor Data Types" and "Tensor Data" rules, and
// answers a failed one as "Inference Response JSON Error Object" says: an
// HTTP error status and {"error": <message>}.
type specServer struct {
	*httptest.Server
	// versioned: the server also serves
	// v2/models/<model_name>/versions/<model_version>/infer. The spec
	// makes the versions portion optional; a server that does not
	// implement versions knows only v2/models/<model_name>/infer.
	versioned bool
	model     string
	// answer computes the outputs from the request's input tensors,
	// flattened, or fails with a status and message.
	answer func(inputs []specTensor) ([]map[string]any, int, string)
	// badID: answer with another id than the request's.
	badID atomic.Bool

	mu   sync.Mutex
	last map[string]any // the last request body, decoded
}

// specTensor is a $request_input after the server's checks.
type specTensor struct {
	Name     string
	Shape    []int
	Datatype string
	Values   []float64 // flattened; BOOL as 0/1
}

// specSizes are the spec's "Tensor Data Types".
var specSizes = map[string]int{"BOOL": 1, "UINT8": 1, "UINT16": 2, "UINT32": 4, "UINT64": 8,
	"INT8": 1, "INT16": 2, "INT32": 4, "INT64": 8, "FP16": 2, "FP32": 4, "FP64": 8, "BYTES": -1}

func newSpecServer(t *testing.T, model string, versioned bool, answer func([]specTensor) ([]map[string]any, int, string)) *specServer {
	o := &specServer{model: model, versioned: versioned, answer: answer}
	o.Server = httptest.NewServer(http.HandlerFunc(o.serve))
	t.Cleanup(o.Close)
	return o
}

func (o *specServer) fail(w http.ResponseWriter, status int, format string, args ...any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": fmt.Sprintf(format, args...)})
}

func (o *specServer) serve(w http.ResponseWriter, r *http.Request) {
	paths := []string{"/v2/models/" + o.model + "/infer"}
	if o.versioned {
		paths = append(paths, "/v2/models/"+o.model+"/versions/1/infer")
	}
	found := false
	for _, p := range paths {
		found = found || r.URL.Path == p
	}
	if r.Method != http.MethodPost || !found {
		o.fail(w, http.StatusBadRequest, "no endpoint %s %s", r.Method, r.URL.Path)
		return
	}
	var req map[string]any
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		o.fail(w, http.StatusBadRequest, "body is not a JSON object: %v", err)
		return
	}
	o.mu.Lock()
	o.last = req
	o.mu.Unlock()
	id, hasID := req["id"]
	if _, ok := id.(string); hasID && !ok {
		o.fail(w, http.StatusBadRequest, "id must be a string")
		return
	}
	if p, ok := req["parameters"]; ok {
		if msg := specParams(p); msg != "" {
			o.fail(w, http.StatusBadRequest, "parameters: %s", msg)
			return
		}
	}
	ins, ok := req["inputs"].([]any)
	if !ok || len(ins) == 0 {
		o.fail(w, http.StatusBadRequest, "inputs must be a non-empty array")
		return
	}
	var tensors []specTensor
	for i, in := range ins {
		t, msg := specInput(in)
		if msg != "" {
			o.fail(w, http.StatusBadRequest, "inputs[%d]: %s", i, msg)
			return
		}
		tensors = append(tensors, t)
	}
	outs, status, msg := o.answer(tensors)
	if status != 0 {
		o.fail(w, status, "%s", msg)
		return
	}
	resp := map[string]any{"model_name": o.model, "outputs": outs}
	if hasID {
		resp["id"] = id // "if specified this identifier must be returned"
		if o.badID.Load() {
			resp["id"] = "not-" + id.(string)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

// specParams checks a $parameters object: "$parameter = $string : $string
// | $number | $boolean".
func specParams(p any) string {
	m, ok := p.(map[string]any)
	if !ok {
		return "not an object"
	}
	for k, v := range m {
		switch v.(type) {
		case string, float64, bool:
		default:
			return k + " is not a string, number or boolean"
		}
	}
	return ""
}

// specInput checks a $request_input.
func specInput(in any) (specTensor, string) {
	m, ok := in.(map[string]any)
	if !ok {
		return specTensor{}, "not an object"
	}
	var t specTensor
	if t.Name, ok = m["name"].(string); !ok {
		return t, "name must be a string"
	}
	if t.Datatype, ok = m["datatype"].(string); !ok || specSizes[t.Datatype] == 0 {
		return t, fmt.Sprintf("datatype %v is not a Tensor Data Type", m["datatype"])
	}
	shape, ok := m["shape"].([]any)
	if !ok {
		return t, "shape must be an array"
	}
	n := 1
	for _, d := range shape {
		f, ok := d.(float64)
		if !ok || f < 0 || f != math.Trunc(f) {
			return t, "each shape dimension must be an unsigned integer"
		}
		t.Shape = append(t.Shape, int(f))
		n *= int(f)
	}
	var flatten func(v any) string
	flatten = func(v any) string {
		switch e := v.(type) {
		case []any: // "in their natural multi-dimensional representation"
			for _, x := range e {
				if msg := flatten(x); msg != "" {
					return msg
				}
			}
		case bool:
			if t.Datatype != "BOOL" {
				return "a boolean in " + t.Datatype + " data"
			}
			t.Values = append(t.Values, b2f(e))
		case float64:
			if t.Datatype == "BOOL" {
				return "a number in BOOL data"
			}
			if strings.Contains(t.Datatype, "INT") && e != math.Trunc(e) {
				return fmt.Sprintf("%v in %s data", e, t.Datatype)
			}
			if strings.HasPrefix(t.Datatype, "UINT") && e < 0 {
				return fmt.Sprintf("%v in %s data", e, t.Datatype)
			}
			t.Values = append(t.Values, e)
		default:
			return fmt.Sprintf("element %v is not of %s", v, t.Datatype)
		}
		return ""
	}
	data, ok := m["data"].([]any)
	if !ok {
		return t, "data must be an array"
	}
	if msg := flatten(data); msg != "" {
		return t, msg
	}
	if len(t.Values) != n {
		return t, fmt.Sprintf("shape %v holds %d elements, data has %d", t.Shape, n, len(t.Values))
	}
	return t, ""
}

// rowSums is a model: one output per row, the sum of the row's values
// across every input tensor of shape [rows, width].
func rowSums(ins []specTensor) []float64 {
	rows := ins[0].Shape[0]
	out := make([]float64, rows)
	for _, t := range ins {
		w := t.Shape[1]
		for r := range rows {
			for _, f := range t.Values[r*w : (r+1)*w] {
				out[r] += f
			}
		}
	}
	return out
}
