package features

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
)

// post POSTs a JSON body to url, with an Authorization header unless auth
// is "", and returns the answer's status and body, read up to limit bytes:
// the one HTTP exchange of feature upstreams and model servers alike. What
// a status means is the caller's: an http view wants 200, an OIP model
// server's error body carries its message.
func (s *Store) post(ctx context.Context, url, auth string, body []byte, limit int64) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("cannot build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return 0, nil, fmt.Errorf("cannot read the answer: %w", err)
	}
	return resp.StatusCode, data, nil
}
