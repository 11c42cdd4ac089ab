package features

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/tiercel/tiercel/internal/jsonstr"
)

// modelErrClass says how a model call failed, a bounded label for the
// tiercel_model_errors_total metric.
type modelErrClass uint8

const (
	errTransport modelErrClass = iota // no answer: refused, reset, timed out
	errStatus4xx                      // the server refused the request
	errStatus5xx                      // the server failed
	errAnswer                         // a 200 whose body Tiercel cannot use
	errInput                          // an input not of its tensor's datatype
	numModelErrs
)

var modelErrNames = [numModelErrs]string{errTransport: "transport", errStatus4xx: "4xx", errStatus5xx: "5xx", errAnswer: "bad_answer", errInput: "bad_input"}

// modelError is a failed model call: its class and, for an HTTP error
// status, the status and the server's own message (the OIP error body
// {"error": "..."}), which is the only clue to a misconfigured model.
type modelError struct {
	class  modelErrClass
	status int
	msg    string
	err    error // transport: the cause, which says whether it timed out
}

func (e *modelError) Unwrap() error { return e.err }

func (e *modelError) Error() string {
	if e.status != 0 {
		return "status " + strconv.Itoa(e.status) + ": " + e.msg
	}
	return e.msg
}

// oipAnswer is the part of an OIP inference response ($inference_response
// in the spec) Tiercel reads.
type oipAnswer struct {
	ID      *string `json:"id"`
	Outputs []struct {
		Name     string          `json:"name"`
		Shape    []int64         `json:"shape"`
		Datatype string          `json:"datatype"`
		Data     json.RawMessage `json:"data"`
	} `json:"outputs"`
}

// inferOIP sends one request, body (appendInferBody: every row, in the
// model's input tensors), and reads one number per row from the answer.
func (s *Store) inferOIP(ctx context.Context, m *model, body []byte, id string, rows int) ([]float64, error) {
	status, data, err := s.post(ctx, m.inferURL, "", body, 16<<20)
	switch {
	case err != nil:
		return nil, &modelError{class: errTransport, msg: err.Error(), err: err}
	case status != http.StatusOK:
		class := errStatus5xx
		if status < 500 {
			class = errStatus4xx
		}
		return nil, &modelError{class: class, status: status, msg: oipErrorText(data)}
	}
	ys, err := m.readAnswer(data, id, rows)
	if err != nil {
		return nil, &modelError{class: errAnswer, msg: err.Error()}
	}
	return ys, nil
}

// appendInferBody renders the $inference_request of vecs, and the id it
// carries ("" when the model sends none).
func (m *model) appendInferBody(body []byte, vecs [][]float64) ([]byte, string, error) {
	body = append(body, '{')
	id := ""
	if m.sendID {
		id = strconv.FormatUint(m.ids.Add(1), 10)
		body = append(body, `"id":"`...)
		body = append(body, id...)
		body = append(body, `",`...)
	}
	if m.params != nil {
		body = append(body, `"parameters":`...)
		body = append(body, m.params...)
		body = append(body, ',')
	}
	body = append(body, `"inputs":[`...)
	off := 0
	for ti, t := range m.tensors {
		if ti > 0 {
			body = append(body, ',')
		}
		body = append(body, `{"name":`...)
		body = jsonstr.Append(body, t.name)
		body = append(body, `,"shape":[`...)
		body = appendInt(body, len(vecs))
		body = append(body, ',')
		body = appendInt(body, t.width)
		body = append(body, `],"datatype":"`...)
		body = append(body, t.dt.String()...)
		body = append(body, `","data":[`...)
		for i, v := range vecs {
			for j, f := range v[off : off+t.width] {
				if err := t.dt.check(f); err != nil {
					return nil, "", &modelError{class: errInput, msg: fmt.Sprintf("row %d, tensor %s: %v", i, t.name, err)}
				}
				if i > 0 || j > 0 {
					body = append(body, ',')
				}
				body = t.dt.appendValue(body, f)
			}
		}
		body = append(body, "]}"...)
		off += t.width
	}
	return append(body, "]}"...), id, nil
}

// readAnswer returns the rows' predictions from an inference response:
// the output named by the config (else the first), one value per row,
// nested or flat, of any number or BOOL datatype.
func (m *model) readAnswer(data []byte, id string, rows int) ([]float64, error) {
	var r oipAnswer
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("cannot parse the answer: %w", err)
	}
	if id != "" && r.ID != nil && *r.ID != id {
		return nil, fmt.Errorf("the answer is for request %q, not %q", clipStr(*r.ID), id)
	}
	k := -1
	for i, o := range r.Outputs {
		if m.output == "" || o.Name == m.output {
			k = i
			break
		}
	}
	if k < 0 {
		names := make([]string, len(r.Outputs))
		for i, o := range r.Outputs {
			names[i] = clipStr(o.Name)
		}
		if m.output == "" {
			return nil, errors.New("the answer has no outputs")
		}
		return nil, fmt.Errorf("no output %q in the answer (it has %q)", m.output, names)
	}
	o := r.Outputs[k]
	dt, err := parseDtype(o.Datatype)
	if err != nil && o.Datatype != "FP16" { // FP16 read as plain numbers
		return nil, fmt.Errorf("output %q: %w", clipStr(o.Name), err)
	}
	ys, err := appendTensorData(make([]float64, 0, rows), o.Data, dt)
	if err != nil {
		return nil, fmt.Errorf("output %q: %w", clipStr(o.Name), err)
	}
	n := int64(1)
	for _, d := range o.Shape {
		n *= d
	}
	if len(ys) != rows || n != int64(rows) {
		return nil, fmt.Errorf("output %q has shape %v and %d values: want one value per row, %d rows", clipStr(o.Name), o.Shape, len(ys), rows)
	}
	return ys, nil
}

// oipErrorText is the message of an OIP error body ({"error": "..."}), or
// the start of whatever else the server answered.
func oipErrorText(body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return clipStr(e.Error)
	}
	if len(body) == 0 {
		return "empty body"
	}
	return clipStr(string(bytes.TrimSpace(body)))
}

// logModelError counts a failed call by class and logs it: at warning
// level when the server answered (a refusal or an unusable answer is
// usually a misconfigured model, and the server's message says which),
// at debug level when it did not (the breaker and the fallback counters
// already tell that story, and a dead server would flood the log).
func (s *Store) logModelError(m *model, err error) {
	var me *modelError
	if !errors.As(err, &me) {
		s.log.Debug("features: model call failed", "model", m.String(), "err", err)
		return
	}
	m.errs[me.class].Add(1)
	if me.class == errTransport {
		s.log.Debug("features: model call failed", "model", m.String(), "class", modelErrNames[me.class], "err", me.msg)
		return
	}
	s.log.Warn("features: model call failed", "model", m.String(), "class", modelErrNames[me.class],
		"status", me.status, "error", me.msg)
}

// ModelErrors counts failed calls to a model's server by class.
type ModelErrors struct {
	Model string
	// Class is transport (no answer), 4xx, 5xx (the server's status),
	// bad_answer (a 200 Tiercel could not use) or bad_input (an input not
	// representable in its tensor's datatype).
	Class string
	Calls uint64
}

// ModelErrorCounts returns the non-zero counters, monotonic since New.
func (s *Store) ModelErrorCounts() []ModelErrors {
	var out []ModelErrors
	for _, m := range s.reg.models {
		for c := range numModelErrs {
			if n := m.errs[c].Load(); n > 0 {
				out = append(out, ModelErrors{Model: m.name, Class: modelErrNames[c], Calls: n})
			}
		}
	}
	return out
}
