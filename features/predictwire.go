package features

import (
	"context"
	"encoding/json"
	"math"
	"strconv"

	"github.com/tiercel/tiercel/internal/jsonstr"
)

// predictRequest is the body of POST /v1/models/{name}/predict.
type predictRequest struct {
	Entities []map[string]json.RawMessage `json:"entities"`
	Inputs   [][]float64                  `json:"inputs"`
}

// ParsePredict parses a POST /v1/models/{name}/predict body.
func (s *Store) ParsePredict(body []byte) (*PredictRequest, error) {
	var req predictRequest
	if err := decodeStrict(body, &req, false); err != nil {
		return nil, err
	}
	switch {
	case req.Entities != nil && req.Inputs != nil:
		return nil, errf(BadRequest, "bad_request", "give entities or inputs, not both")
	case req.Inputs != nil:
		if len(req.Inputs) == 0 {
			return nil, errf(BadRequest, "no_rows", "no entities or inputs")
		}
		return &PredictRequest{Inputs: req.Inputs}, nil
	case len(req.Entities) == 0:
		return nil, errf(BadRequest, "no_rows", "no entities or inputs")
	}
	keys, rows, err := s.entityRows(req.Entities)
	if err != nil {
		return nil, err
	}
	return &PredictRequest{JoinKeys: keys, Rows: rows}, nil
}

// AppendPredict renders r as a predict response.
func (r *PredictResult) AppendPredict(dst []byte) []byte {
	dst = append(dst, `{"model":`...)
	dst = jsonstr.Append(dst, r.Model)
	dst = append(dst, `,"version":`...)
	dst = jsonstr.Append(dst, r.Version)
	dst = append(dst, `,"predictions":[`...)
	for i, p := range r.Rows {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '{')
		if q := r.Query; q != nil {
			dst = append(dst, `"entity":{`...)
			for k, name := range q.JoinKeys {
				if k > 0 {
					dst = append(dst, ',')
				}
				dst = jsonstr.Append(dst, name)
				dst = append(dst, ':')
				dst = appendKeyJSON(dst, q.keyTypes[k], q.Rows[i][k])
			}
			dst = append(dst, "},"...)
		}
		dst = append(dst, `"value":`...)
		if math.IsNaN(p.Value) || math.IsInf(p.Value, 0) {
			dst = append(dst, "null"...)
		} else {
			dst = appendFloat(dst, p.Value, 64)
		}
		dst = append(dst, `,"source":"`...)
		dst = append(dst, p.Source.String()...)
		dst = append(dst, `"}`...)
	}
	dst = append(dst, `],"incomplete":`...)
	dst = appendBool(dst, r.Incomplete)
	return append(dst, '}')
}

// ServePredict answers a POST /v1/models/{name}/predict body.
func (s *Store) ServePredict(ctx context.Context, model string, body, dst []byte) ([]byte, error) {
	if s.reg.models[model] == nil {
		return dst, errf(NotFound, "unknown_model", "unknown model %q", clipStr(model))
	}
	req, err := s.ParsePredict(body)
	if err != nil {
		return dst, err
	}
	res, err := s.Predict(ctx, model, req)
	if err != nil {
		return dst, err
	}
	return res.AppendPredict(dst), nil
}

func appendInt(dst []byte, n int) []byte { return strconv.AppendInt(dst, int64(n), 10) }
