package features

import (
	"encoding/json"
	"fmt"
)

// Errors of the Feast write endpoints in the shapes Feast's Python feature
// server answers (sdk/python/feast/feature_server.py): a request that does
// not validate is FastAPI's 422 {"detail": [...]}; a Feast exception is its
// status and a JSON string of {"module", "class", "message"}
// (FeastError.to_error_detail), which Feast's client turns back into the
// same exception class.

// FeastError is a Feast exception: Kind says the status (NotFound 404,
// BadRequest 422, Unavailable 503).
type FeastError struct {
	Kind    Kind
	Class   string // in feast.errors: FeatureViewNotFoundException, ...
	Message string
	Err     error // the cause, logged, not answered
}

func (e *FeastError) Error() string { return e.Class + ": " + e.Message }
func (e *FeastError) Unwrap() error { return e.Err }

// Detail renders the body: Feast's to_error_detail, a JSON object inside
// a JSON string (json.dumps spacing).
func (e *FeastError) Detail() []byte {
	inner := `{"module": "feast.errors", "class": ` + quote(e.Class) + `, "message": ` + quote(e.Message) + `}`
	return append([]byte(quote(inner)), '\n')
}

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
}

func (e *RequestError) Error() string {
	if len(e.Details) == 0 {
		return "invalid request"
	}
	return fmt.Sprintf("invalid request: %v: %s", e.Details[0].Loc, e.Details[0].Msg)
}

// Body renders {"detail": [...]}.
func (e *RequestError) Body() []byte {
	b, err := json.Marshal(struct {
		Detail []Detail `json:"detail"`
	}{e.Details})
	if err != nil {
		panic("BUG: cannot encode a request error: " + err.Error())
	}
	return append(b, '\n')
}

func quote(s string) string {
	b, _ := json.Marshal(s) // a string always encodes
	return string(b)
}

// invalid is a one-detail RequestError.
func invalid(typ, msg string, input json.RawMessage, loc ...any) *RequestError {
	if input == nil {
		input = json.RawMessage("null")
	}
	return &RequestError{Details: []Detail{{Type: typ, Loc: append([]any{"body"}, loc...), Msg: msg, Input: input}}}
}
