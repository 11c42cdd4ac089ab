package features

import (
	"context"
	"encoding/json"
	"fmt"
)

// oipResponse is the part of an Open Inference Protocol v2 REST response
// Tiercel reads: the first output, one number per row.
type oipResponse struct {
	Outputs []struct {
		Name     string    `json:"name"`
		Shape    []int     `json:"shape"`
		Datatype string    `json:"datatype"`
		Data     []float64 `json:"data"`
	} `json:"outputs"`
}

// inferOIP sends every row in one request: a single FP64 input tensor of
// shape [rows, width].
func (s *Store) inferOIP(ctx context.Context, m *model, vecs [][]float64) ([]float64, error) {
	body := []byte(`{"inputs":[{"name":"input-0","shape":[`)
	body = appendInt(body, len(vecs))
	body = append(body, ',')
	body = appendInt(body, m.width)
	body = append(body, `],"datatype":"FP64","data":[`...)
	for i, v := range vecs {
		for j, f := range v {
			if i > 0 || j > 0 {
				body = append(body, ',')
			}
			body = appendFloat(body, f, 64)
		}
	}
	body = append(body, `]}]}`...)
	data, err := s.postJSON(ctx, m.inferURL, body, 16<<20)
	if err != nil {
		return nil, fmt.Errorf("cannot call model %s: %w", m, err)
	}
	var r oipResponse
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("cannot parse model %s answer: %w", m, err)
	}
	if len(r.Outputs) == 0 || len(r.Outputs[0].Data) != len(vecs) {
		return nil, fmt.Errorf("cannot use model %s answer: want one output of %d values", m, len(vecs))
	}
	return r.Outputs[0].Data, nil
}
