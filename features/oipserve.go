package features

import (
	"context"
	"encoding/json"
	"fmt"
	"math"

	"github.com/tiercel/tiercel/internal/jsonstr"
)

// The gateway as an Open Inference Protocol server (KServe v2 REST): an
// OIP client calls /v2/models/{name}[/versions/{version}]/infer and gets
// the prediction cache, the model and its fallbacks, exactly as through
// POST /v1/models/{name}/predict with raw inputs: the same vectors, so
// the same prediction keys. The endpoint's input tensors are the model's
// backend.input_tensors, its one output backend.output (or "output-0").

// inferRequest is the spec's $inference_request.
type inferRequest struct {
	ID         *string                    `json:"id"`
	Parameters map[string]json.RawMessage `json:"parameters"`
	Inputs     []inferInput               `json:"inputs"`
	Outputs    []struct {
		Name       string                     `json:"name"`
		Parameters map[string]json.RawMessage `json:"parameters"`
	} `json:"outputs"`
}

// inferInput is the spec's $request_input.
type inferInput struct {
	Name       string                     `json:"name"`
	Shape      []int64                    `json:"shape"`
	Datatype   string                     `json:"datatype"`
	Parameters map[string]json.RawMessage `json:"parameters"`
	Data       json.RawMessage            `json:"data"`
}

// lookupModel finds the model of an OIP path: version, when the path has
// one, must be the one configured.
func (s *Store) lookupModel(name, version string) (*model, error) {
	m := s.reg.models[name]
	if m == nil {
		return nil, errf(NotFound, "unknown_model", "unknown model %q", clipStr(name))
	}
	if version != "" && version != m.version {
		return nil, errf(NotFound, "unknown_version", "model %q has no version %q (it serves %q)", m.name, clipStr(version), m.version)
	}
	return m, nil
}

// ServeInfer answers POST /v2/models/{name}[/versions/{version}]/infer
// (version "": none in the path) with the spec's $inference_response,
// the prediction's source in its parameters: tiercel_source is cache,
// model, stale or default, or mixed with tiercel_sources listing each
// row's.
func (s *Store) ServeInfer(ctx context.Context, name, version string, body, dst []byte) ([]byte, error) {
	m, err := s.lookupModel(name, version)
	if err != nil {
		return dst, err
	}
	var req inferRequest
	if err := decodeStrict(body, &req, false); err != nil {
		return dst, err
	}
	vecs, err := s.inferRows(m, &req)
	if err != nil {
		return dst, err
	}
	res, err := s.Predict(ctx, name, &PredictRequest{Inputs: vecs})
	if err != nil {
		return dst, err
	}
	return m.appendInferResponse(dst, req.ID, res), nil
}

// inferRows checks a request against the model's tensors and returns its
// input vectors, one per row.
func (s *Store) inferRows(m *model, req *inferRequest) ([][]float64, error) {
	var p problems
	checkParams(&p, "parameters", req.Parameters)
	for i, o := range req.Outputs {
		if o.Name != m.outputName() {
			p.add("outputs[%d]: model %s has no output %q (it has %q)", i, m.name, clipStr(o.Name), m.outputName())
		}
		checkParams(&p, fmt.Sprintf("outputs[%d].parameters", i), o.Parameters)
	}
	if len(req.Inputs) != len(m.tensors) {
		p.add("inputs: model %s takes %d input tensor(s) %s, got %d", m.name, len(m.tensors), m.tensorNames(), len(req.Inputs))
		return nil, p.err(BadRequest, "bad_inputs")
	}
	rows := -1
	cols := make([][]float64, len(m.tensors)) // per model tensor, row-major [rows][width]
	for i := range req.Inputs {
		in := &req.Inputs[i]
		ti := m.tensorFor(in.Name)
		switch {
		case ti < 0:
			p.add("inputs[%d]: model %s has no input %q (it takes %s)", i, m.name, clipStr(in.Name), m.tensorNames())
			continue
		case cols[ti] != nil:
			p.add("inputs[%d]: input %q given twice", i, clipStr(in.Name))
			continue
		}
		t := m.tensors[ti]
		checkParams(&p, fmt.Sprintf("inputs[%d].parameters", i), in.Parameters)
		dt, err := parseDtype(in.Datatype)
		if err != nil {
			p.add("inputs[%d]: %v", i, err)
			continue
		}
		n, err := shapeRows(in.Shape, t.width, s.reg.cfg.MaxEntities)
		if KindOf(err) == TooLarge {
			return nil, err
		}
		if err != nil {
			p.add("inputs[%d]: %v", i, err)
			continue
		}
		if rows >= 0 && n != rows {
			p.add("inputs[%d]: %d rows, another input has %d", i, n, rows)
			continue
		}
		rows = n
		data, err := appendTensorData(make([]float64, 0, n*t.width), in.Data, dt)
		switch {
		case err != nil:
			p.add("inputs[%d].data: %v", i, err)
		case len(data) != n*t.width:
			p.add("inputs[%d]: shape %v holds %d values, data has %d", i, in.Shape, n*t.width, len(data))
		default:
			cols[ti] = data
		}
	}
	if err := p.err(BadRequest, "bad_inputs"); err != nil {
		return nil, err
	}
	if rows == 0 {
		return nil, errf(BadRequest, "no_rows", "the input tensors have no rows")
	}
	vecs := make([][]float64, rows)
	flat := make([]float64, 0, rows*m.width)
	for r := range vecs {
		start := len(flat)
		for ti, t := range m.tensors {
			flat = append(flat, cols[ti][r*t.width:(r+1)*t.width]...)
		}
		vecs[r] = flat[start:len(flat):len(flat)]
	}
	return vecs, nil
}

// shapeRows reads a tensor shape as rows of width values: [rows, width],
// or one dimension, which is [rows] for a width of 1, else one row.
func shapeRows(shape []int64, width, maxRows int) (int, error) {
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("shape %v: a dimension is negative", shape)
		}
	}
	var rows int64
	switch {
	case len(shape) == 2 && shape[1] == int64(width):
		rows = shape[0]
	case len(shape) == 1 && width == 1:
		rows = shape[0]
	case len(shape) == 1 && shape[0] == int64(width):
		rows = 1
	default:
		return 0, fmt.Errorf("shape %v: want [rows, %d]", shape, width)
	}
	if rows > int64(maxRows) {
		return 0, errf(TooLarge, "too_many_rows", "%d input rows, at most %d per request", rows, maxRows)
	}
	return int(rows), nil
}

// checkParams checks the spec's $parameters: string, number or boolean
// values. They are accepted and ignored: they are not in the prediction
// key, so they must not change the answer.
func checkParams(p *problems, path string, params map[string]json.RawMessage) {
	for k, v := range params {
		switch c := firstByte(v); {
		case c == '"', c == 't', c == 'f', c == '-', c >= '0' && c <= '9':
		default:
			p.add("%s.%s: want a string, number or boolean", path, clipStr(k))
		}
	}
}

func firstByte(b []byte) byte {
	b = skipSpace(b)
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

// tensorFor returns the index of the model tensor an input named name
// feeds: by name, or the only one whatever its name (clients name a
// single input as they like).
func (m *model) tensorFor(name string) int {
	for i, t := range m.tensors {
		if t.name == name {
			return i
		}
	}
	if len(m.tensors) == 1 {
		return 0
	}
	return -1
}

func (m *model) tensorNames() string {
	names := make([]string, len(m.tensors))
	for i, t := range m.tensors {
		names[i] = t.name
	}
	return fmt.Sprintf("%q", names)
}

func (m *model) outputName() string {
	if m.output != "" {
		return m.output
	}
	return "output-0"
}

// appendInferResponse renders res as the spec's $inference_response: one
// FP64 output of shape [rows, 1].
func (m *model) appendInferResponse(dst []byte, id *string, res *PredictResult) []byte {
	dst = append(dst, `{"model_name":`...)
	dst = jsonstr.Append(dst, m.name)
	dst = append(dst, `,"model_version":`...)
	dst = jsonstr.Append(dst, m.version)
	if id != nil {
		dst = append(dst, `,"id":`...)
		dst = jsonstr.Append(dst, *id)
	}
	dst = append(dst, `,"parameters":{"tiercel_source":"`...)
	mixed := false
	for _, p := range res.Rows {
		mixed = mixed || p.Source != res.Rows[0].Source
	}
	if mixed {
		dst = append(dst, `mixed","tiercel_sources":"`...)
		for i, p := range res.Rows {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, p.Source.String()...)
		}
	} else if len(res.Rows) > 0 {
		dst = append(dst, res.Rows[0].Source.String()...)
	}
	dst = append(dst, `"},"outputs":[{"name":`...)
	dst = jsonstr.Append(dst, m.outputName())
	dst = append(dst, `,"datatype":"FP64","shape":[`...)
	dst = appendInt(dst, len(res.Rows))
	dst = append(dst, `,1],"data":[`...)
	for i, p := range res.Rows {
		if i > 0 {
			dst = append(dst, ',')
		}
		if math.IsNaN(p.Value) || math.IsInf(p.Value, 0) {
			dst = append(dst, "null"...)
		} else {
			dst = appendFloat(dst, p.Value, 64)
		}
	}
	return append(dst, "]}]}"...)
}

// AppendModelMetadata renders GET /v2/models/{name}[/versions/{version}]:
// the spec's $metadata_model_response.
func (s *Store) AppendModelMetadata(dst []byte, name, version string) ([]byte, error) {
	m, err := s.lookupModel(name, version)
	if err != nil {
		return dst, err
	}
	dst = append(dst, `{"name":`...)
	dst = jsonstr.Append(dst, m.name)
	dst = append(dst, `,"versions":[`...)
	dst = jsonstr.Append(dst, m.version)
	dst = append(dst, `],"platform":"`...)
	switch {
	case m.backend == backendOIP:
		dst = append(dst, "tiercel_oip"...)
	case m.logistic:
		dst = append(dst, "tiercel_logistic"...)
	default:
		dst = append(dst, "tiercel_linear"...)
	}
	dst = append(dst, `","inputs":[`...)
	for i, t := range m.tensors {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendTensorMeta(dst, t.name, t.dt, t.width)
	}
	dst = append(dst, `],"outputs":[`...)
	dst = appendTensorMeta(dst, m.outputName(), dtFP64, 1)
	return append(dst, "]}"...), nil
}

// appendTensorMeta renders a $metadata_tensor of shape [-1, width]: any
// number of rows.
func appendTensorMeta(dst []byte, name string, dt dtype, width int) []byte {
	dst = append(dst, `{"name":`...)
	dst = jsonstr.Append(dst, name)
	dst = append(dst, `,"datatype":"`...)
	dst = append(dst, dt.String()...)
	dst = append(dst, `","shape":[-1,`...)
	dst = appendInt(dst, width)
	return append(dst, "]}"...)
}

// ModelReady answers GET /v2/models/{name}[/versions/{version}]/ready: a
// model is ready unless its server's breaker is open (it keeps failing;
// its requests are answered by the cache and the fallbacks, if any).
func (s *Store) ModelReady(name, version string) (bool, error) {
	m, err := s.lookupModel(name, version)
	if err != nil {
		return false, err
	}
	return m.br == nil || m.br.State() != "open", nil
}

// ModelsReady reports whether every model is ready, for the spec's
// "server ready": "all the models are ready for inferencing".
func (s *Store) ModelsReady() bool {
	for name := range s.reg.models {
		if ok, _ := s.ModelReady(name, ""); !ok {
			return false
		}
	}
	return true
}
