package features

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// A request to a Feast endpoint that FastAPI (pydantic) would refuse is
// answered 422 {"detail": [...]}: RequestError. A Feast exception is an
// Error whose Feast field names its class (feastErr); the gateway writes
// both (gateway/feasterror.go).

// RequestError is a request FastAPI (pydantic) would refuse: 422.
type RequestError struct {
	Details []Detail
}

// Detail is one pydantic error.
type Detail struct {
	Type  string          `json:"type"`
	Loc   []any           `json:"loc"`
	Msg   string          `json:"msg"`
	Input json.RawMessage `json:"input"`
	// Ctx is pydantic's context of some errors (json_invalid's "error").
	Ctx map[string]string `json:"ctx,omitempty"`
}

func (e *RequestError) Error() string {
	if len(e.Details) == 0 {
		return "invalid request"
	}
	return fmt.Sprintf("invalid request: %v: %s", e.Details[0].Loc, e.Details[0].Msg)
}

// Body renders {"detail": [...]} as Starlette's JSONResponse does
// (json.dumps with ensure_ascii=False, compact separators): no HTML
// escaping, no newline.
func (e *RequestError) Body() []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(struct {
		Detail []Detail `json:"detail"`
	}{e.Details}); err != nil {
		panic("BUG: cannot encode a request error: " + err.Error())
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// invalid is a one-detail RequestError.
func invalid(typ, msg string, input json.RawMessage, loc ...any) *RequestError {
	if input == nil {
		input = json.RawMessage("null")
	}
	return &RequestError{Details: []Detail{{Type: typ, Loc: append([]any{"body"}, loc...), Msg: msg, Input: input}}}
}
