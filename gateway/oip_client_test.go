package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tiercel/tiercel/features"
	"github.com/tiercel/tiercel/internal/breaker"
)

// An Open Inference Protocol client written from the spec
// (kserve/open-inference-protocol specification/protocol/inference_rest.md
// and kserve docs/predict-api/v2/required_api.md, "HTTP/REST"), not from
// the gateway's code: it builds $inference_request objects as the spec's
// JSON schema gives them and reads the answers as the spec says a
// compliant server writes them.

// oipInput is the spec's $request_input.
type oipInput struct {
	Name       string         `json:"name"`
	Shape      []int          `json:"shape"`
	Datatype   string         `json:"datatype"`
	Parameters map[string]any `json:"parameters,omitempty"`
	Data       any            `json:"data"`
}

// oipRequest is the spec's $inference_request.
type oipRequest struct {
	ID         string         `json:"id,omitempty"`
	Parameters map[string]any `json:"parameters,omitempty"`
	Inputs     []oipInput     `json:"inputs"`
	Outputs    []struct {
		Name string `json:"name"`
	} `json:"outputs,omitempty"`
}

// oipResponse is the spec's $inference_response.
type oipResponse struct {
	ModelName    string         `json:"model_name"`
	ModelVersion string         `json:"model_version"`
	ID           string         `json:"id"`
	Parameters   map[string]any `json:"parameters"`
	Outputs      []struct {
		Name     string    `json:"name"`
		Shape    []int     `json:"shape"`
		Datatype string    `json:"datatype"`
		Data     []float64 `json:"data"`
	} `json:"outputs"`
}

// oipMetadataTensor is the spec's $metadata_tensor.
type oipMetadataTensor struct {
	Name     string `json:"name"`
	Datatype string `json:"datatype"`
	Shape    []int  `json:"shape"`
}

type oipClient struct {
	t    *testing.T
	base string
	tok  string
}

// call sends one request and returns the status and the raw body; every
// answer must be JSON, and every error the spec's error object:
// "A failed ... request must be indicated by an HTTP error status ...
// The HTTP body must contain the {"error": $string} object."
func (c *oipClient) call(method, path string, body any) (int, []byte) {
	c.t.Helper()
	var rd *bytes.Reader
	switch b := body.(type) {
	case nil:
		rd = bytes.NewReader(nil)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		data, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.tok != "" {
		req.Header.Set("Authorization", "Bearer "+c.tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		c.t.Fatalf("%s %s: Content-Type %q", method, path, ct)
	}
	// "ready": false is an answer of the health APIs ($ready_model_response,
	// $ready_server_response), not an error.
	if resp.StatusCode >= 400 && !bytes.Contains(buf.Bytes(), []byte(`"ready":false`)) {
		var e struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal(buf.Bytes(), &e); err != nil || e.Error == "" {
			c.t.Fatalf("%s %s: %d with a body that is not {\"error\": $string}: %s", method, path, resp.StatusCode, buf.Bytes())
		}
	}
	return resp.StatusCode, buf.Bytes()
}

func (c *oipClient) infer(path string, req oipRequest) (int, oipResponse, string) {
	c.t.Helper()
	status, body := c.call("POST", path, req)
	var r oipResponse
	if status == 200 {
		if err := json.Unmarshal(body, &r); err != nil {
			c.t.Fatalf("POST %s: %v in %s", path, err, body)
		}
	}
	return status, r, string(body)
}

// oipRoutes adds the OIP endpoints, each with and without /versions/{v}.
func oipRoutes(c *Config) {
	add := func(name, path, handler string, methods ...string) {
		c.Routes = append(c.Routes, RouteConfig{Name: name, Path: path, Methods: methods, Handler: handler,
			Auth: RouteAuth{Scopes: []string{"predict"}}, RateLimit: "big", Timeout: 500 * time.Millisecond})
	}
	add("oip-live", "/v2/health/live", "oip_live", "GET")
	add("oip-ready", "/v2/health/ready", "oip_ready", "GET")
	add("oip-server", "/v2", "oip_server", "GET")
	add("oip-model", "/v2/models/{name}", "oip_model", "GET")
	add("oip-model-v", "/v2/models/{name}/versions/{version}", "oip_model", "GET")
	add("oip-model-ready", "/v2/models/{name}/ready", "oip_model_ready", "GET")
	add("oip-model-ready-v", "/v2/models/{name}/versions/{version}/ready", "oip_model_ready", "GET")
	add("oip-infer", "/v2/models/{name}/infer", "oip_infer", "POST")
	add("oip-infer-v", "/v2/models/{name}/versions/{version}/infer", "oip_infer", "POST")
}

// oipHarness is a gateway serving the OIP routes with the builtin model
// "lin" (y = 1 + 2x, one input) and an OIP model "down" whose server is
// gone and which has no default.
func oipHarness(t *testing.T) (*harness, *oipClient) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + ln.Addr().String()
	ln.Close()
	h := newHarness(t, func(c *Config) {
		featureRoutes("", "")(c)
		c.Server.MaxBodyBytes = 1 << 20
		c.Features.MaxEntities = 1000
		c.Features.Models = append(c.Features.Models, features.ModelConfig{Name: "down", Version: "1",
			Inputs: []string{"mem:clicks"}, Backend: features.BackendConfig{Type: "oip", URL: deadURL,
				Breaker: breaker.Config{Failures: 1, Cooldown: time.Hour}}})
		oipRoutes(c)
	})
	return h, &oipClient{t: t, base: h.base, tok: token(t, featureScopes)}
}

// Health and metadata: "Server Live", "Server Ready", "Server Metadata",
// "Model Metadata", "Model Ready".
func TestOIPServerHealthAndMetadata(t *testing.T) {
	h, c := oipHarness(t)
	for path, want := range map[string]string{"/v2/health/live": `"live":true`, "/v2/health/ready": `"ready":true`,
		"/v2/models/lin/ready": `"ready":true`, "/v2/models/lin/versions/1/ready": `"name":"lin"`} {
		if status, body := c.call("GET", path, nil); status != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d %s", path, status, body)
		}
	}
	status, body := c.call("GET", "/v2", nil)
	var server struct {
		Name       string   `json:"name"`
		Version    string   `json:"version"`
		Extensions []string `json:"extensions"`
	}
	if err := json.Unmarshal(body, &server); status != 200 || err != nil || server.Name == "" || server.Version == "" || server.Extensions == nil {
		t.Errorf("GET /v2: %d %s", status, body)
	}
	for _, path := range []string{"/v2/models/lin", "/v2/models/lin/versions/1"} {
		status, body := c.call("GET", path, nil)
		var md struct {
			Name     string              `json:"name"`
			Versions []string            `json:"versions"`
			Platform string              `json:"platform"`
			Inputs   []oipMetadataTensor `json:"inputs"`
			Outputs  []oipMetadataTensor `json:"outputs"`
		}
		if err := json.Unmarshal(body, &md); status != 200 || err != nil {
			t.Fatalf("GET %s: %d %s", path, status, body)
		}
		if md.Name != "lin" || len(md.Versions) != 1 || md.Versions[0] != "1" || md.Platform == "" ||
			len(md.Inputs) != 1 || md.Inputs[0].Datatype != "FP64" || fmt.Sprint(md.Inputs[0].Shape) != "[-1 1]" ||
			len(md.Outputs) != 1 || md.Outputs[0].Datatype != "FP64" || fmt.Sprint(md.Outputs[0].Shape) != "[-1 1]" {
			t.Errorf("GET %s: %s", path, body)
		}
	}
	for _, path := range []string{"/v2/models/nope", "/v2/models/lin/versions/9", "/v2/models/nope/ready", "/v2/models/lin/versions/9/ready"} {
		if status, body := c.call("GET", path, nil); status != 404 {
			t.Errorf("GET %s: %d %s, want 404", path, status, body)
		}
	}
	// Same auth as every route: no token, no answer (in the gateway's
	// error shape: auth runs before the OIP handler, see docs/oip.md).
	if r := h.get("/v2/health/live", ""); r.status != 401 {
		t.Errorf("no token: %d %s", r.status, r.body)
	}
	if r := h.get("/v2/health/live", token(t, nil)); r.status != 403 {
		t.Errorf("no predict scope: %d %s", r.status, r.body)
	}
}

// Inference with each datatype the spec lists ("Tensor Data Types"):
// those JSON carries as numbers or booleans are taken, BYTES and FP16 are
// refused with 400.
func TestOIPServerInferDatatypes(t *testing.T) {
	_, c := oipHarness(t)
	f := func(datatype string, data any, want ...float64) {
		t.Helper()
		status, r, body := c.infer("/v2/models/lin/infer", oipRequest{ID: "req-" + datatype,
			Inputs: []oipInput{{Name: "x", Shape: []int{len(want), 1}, Datatype: datatype, Data: data}}})
		if status != 200 || r.ID != "req-"+datatype || r.ModelName != "lin" || len(r.Outputs) != 1 {
			t.Fatalf("%s: %d %s", datatype, status, body)
		}
		o := r.Outputs[0]
		if fmt.Sprint(o.Data) != fmt.Sprint(want) || fmt.Sprint(o.Shape) != fmt.Sprint([]int{len(want), 1}) || o.Datatype != "FP64" {
			t.Errorf("%s: %s, want data %v", datatype, body, want)
		}
	}
	f("BOOL", []bool{true, false}, 3, 1)
	for _, dt := range []string{"INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"} {
		f(dt, []int{1, 2}, 3, 5)
	}
	f("FP32", []float64{0.5, 2}, 2, 5)
	f("FP64", []float64{0.25, -1}, 1.5, -1)
	for _, bad := range []oipInput{
		{Name: "x", Shape: []int{1, 1}, Datatype: "BYTES", Data: []string{"a"}},
		{Name: "x", Shape: []int{1, 1}, Datatype: "FP16", Data: []float64{1}},
		{Name: "x", Shape: []int{1, 1}, Datatype: "INT8", Data: []int{300}},      // out of range
		{Name: "x", Shape: []int{1, 1}, Datatype: "UINT32", Data: []int{-1}},     // negative
		{Name: "x", Shape: []int{1, 1}, Datatype: "INT64", Data: []float64{1.5}}, // not an integer
		{Name: "x", Shape: []int{1, 1}, Datatype: "BOOL", Data: []int{1}},        // a number as BOOL
		{Name: "x", Shape: []int{1, 1}, Datatype: "FP64", Data: []bool{true}},    // a boolean as FP64
		{Name: "x", Shape: []int{1, 1}, Datatype: "complex", Data: []float64{1}}, // no such type
		{Name: "x", Shape: []int{1, 1}, Datatype: "FP64", Data: []string{"1.5"}}, // a string
		{Name: "x", Shape: []int{1, 2}, Datatype: "FP64", Data: []float64{1, 2}}, // the model takes 1 value a row
		{Name: "x", Shape: []int{1, 1, 1}, Datatype: "FP64", Data: []float64{1}}, // rank 3
	} {
		if status, _, body := c.infer("/v2/models/lin/infer", oipRequest{Inputs: []oipInput{bad}}); status != 400 {
			t.Errorf("%+v: %d %s, want 400", bad, status, body)
		}
	}
}

// Shapes ("Tensor Data": nested or flat), a batch of many rows, the cache
// (reported in parameters), the versioned path, a malformed tensor.
func TestOIPServerInferShapesBatchAndCache(t *testing.T) {
	h, c := oipHarness(t)
	for _, in := range []oipInput{
		{Name: "x", Shape: []int{2}, Datatype: "FP64", Data: []float64{10, 20}},
		{Name: "x", Shape: []int{2, 1}, Datatype: "FP64", Data: []float64{10, 20}},
		{Name: "x", Shape: []int{2, 1}, Datatype: "FP64", Data: [][]float64{{10}, {20}}},
	} {
		status, r, body := c.infer("/v2/models/lin/versions/1/infer", oipRequest{Inputs: []oipInput{in}})
		if status != 200 || r.ModelVersion != "1" || fmt.Sprint(r.Outputs[0].Data) != "[21 41]" {
			t.Errorf("%+v: %d %s", in, status, body)
		}
	}
	// The same rows again: the prediction cache answers (once its
	// asynchronous L1 write is done).
	h.srv.current().cache.Wait()
	status, r, body := c.infer("/v2/models/lin/infer", oipRequest{Inputs: []oipInput{{Name: "x", Shape: []int{2, 1}, Datatype: "FP64", Data: []float64{10, 20}}}})
	if status != 200 || r.Parameters["tiercel_source"] != "cache" {
		t.Errorf("cached: %d %s", status, body)
	}
	// A row seen and one not: each row's source.
	status, r, body = c.infer("/v2/models/lin/infer", oipRequest{Inputs: []oipInput{{Name: "x", Shape: []int{2, 1}, Datatype: "FP64", Data: []float64{10, 30}}},
		Outputs: []struct {
			Name string `json:"name"`
		}{{Name: "output-0"}}, Parameters: map[string]any{"priority": 1}})
	if status != 200 || r.Parameters["tiercel_source"] != "mixed" || r.Parameters["tiercel_sources"] != "cache,model" {
		t.Errorf("mixed: %d %s", status, body)
	}
	rows := 500
	data := make([]float64, rows)
	want := make([]float64, rows)
	for i := range data {
		data[i] = float64(i)
		want[i] = 1 + 2*float64(i)
	}
	status, r, body = c.infer("/v2/models/lin/infer", oipRequest{Inputs: []oipInput{{Name: "x", Shape: []int{rows, 1}, Datatype: "FP64", Data: data}}})
	if status != 200 || fmt.Sprint(r.Outputs[0].Data) != fmt.Sprint(want) || r.Outputs[0].Shape[0] != rows {
		t.Errorf("batch of %d: %d %.200s", rows, status, body)
	}
	for name, req := range map[string]any{
		"shape and data disagree": oipRequest{Inputs: []oipInput{{Name: "x", Shape: []int{3, 1}, Datatype: "FP64", Data: []float64{1, 2}}}},
		"nested short":            oipRequest{Inputs: []oipInput{{Name: "x", Shape: []int{2, 1}, Datatype: "FP64", Data: [][]float64{{1}, {}}}}},
		"no inputs":               oipRequest{},
		"two inputs":              oipRequest{Inputs: []oipInput{{Name: "x", Shape: []int{1}, Datatype: "FP64", Data: []float64{1}}, {Name: "y", Shape: []int{1}, Datatype: "FP64", Data: []float64{1}}}},
		"unknown output":          `{"inputs":[{"name":"x","shape":[1],"datatype":"FP64","data":[1]}],"outputs":[{"name":"probabilities"}]}`,
		"parameter not a scalar":  `{"inputs":[{"name":"x","shape":[1],"datatype":"FP64","data":[1]}],"parameters":{"p":[1]}}`,
		"not JSON":                `{"inputs":`,
		"id not a string":         `{"id":42,"inputs":[{"name":"x","shape":[1],"datatype":"FP64","data":[1]}]}`,
	} {
		if status, body := c.call("POST", "/v2/models/lin/infer", req); status != 400 {
			t.Errorf("%s: %d %s, want 400", name, status, body)
		}
	}
	if status, body := c.call("POST", "/v2/models/lin/infer", oipRequest{Inputs: []oipInput{{Name: "x", Shape: []int{1001, 1}, Datatype: "FP64", Data: make([]float64, 1001)}}}); status != 413 {
		t.Errorf("1001 rows: %d %s, want 413", status, body)
	}
	for _, path := range []string{"/v2/models/nope/infer", "/v2/models/lin/versions/2/infer"} {
		if status, body := c.call("POST", path, oipRequest{Inputs: []oipInput{{Name: "x", Shape: []int{1}, Datatype: "FP64", Data: []float64{1}}}}); status != 404 {
			t.Errorf("%s: %d %s, want 404", path, status, body)
		}
	}
}

// A model whose server is gone and which has no default or last good
// prediction: inference is 503, and once its breaker opens the model and
// the server are not ready ("Model Ready", "Server Ready").
func TestOIPServerUnreadyModel(t *testing.T) {
	_, c := oipHarness(t)
	req := oipRequest{Inputs: []oipInput{{Name: "x", Shape: []int{1}, Datatype: "FP64", Data: []float64{1}}}}
	if status, _, body := c.infer("/v2/models/down/infer", req); status != 503 {
		t.Errorf("infer on a dead model server: %d %s, want 503", status, body)
	}
	if status, body := c.call("GET", "/v2/models/down/ready", nil); status != 503 || !strings.Contains(string(body), `"ready":false`) {
		t.Errorf("model ready: %d %s", status, body)
	}
	if status, body := c.call("GET", "/v2/health/ready", nil); status != 503 || !strings.Contains(string(body), `"ready":false`) {
		t.Errorf("server ready: %d %s", status, body)
	}
	if status, body := c.call("GET", "/v2/models/lin/ready", nil); status != 200 {
		t.Errorf("the other model: %d %s", status, body)
	}
}
