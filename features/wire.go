package features

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/tiercel/tiercel/internal/jsonstr"
)

// Shared pieces of the JSON wire formats. Parsing uses encoding/json (a
// request is parsed once); rendering appends to a []byte without
// reflection, since a response carries entities × refs values.

// decodeStrict decodes exactly one JSON value into v, rejecting unknown
// fields and trailing data.
func decodeStrict(body []byte, v any, allowUnknown bool) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if !allowUnknown {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return badJSON(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errf(BadRequest, "bad_json", "unexpected data after the JSON body")
	}
	return nil
}

func badJSON(err error) error {
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return &Error{Kind: BadRequest, Code: "bad_json", Message: "malformed request body: " + msg, Err: err}
}

// keyText converts a JSON entity value to its text form for a join key of
// type t: strings for string keys, integers for int64 keys.
func keyText(t Scalar, raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if t == Int64 {
		if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
			return strconv.FormatInt(n, 10), nil
		}
		return "", fmt.Errorf("want an int64, got %s", jsonKind(raw))
	}
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", fmt.Errorf("want a string, got %s", jsonKind(raw))
	}
	return s, nil
}

// appendKeyJSON renders a join key's text value as JSON.
func appendKeyJSON(dst []byte, t Scalar, s string) []byte {
	if t == Int64 {
		return append(dst, s...)
	}
	return jsonstr.Append(dst, s)
}

func appendStrings(dst []byte, ss []string, f func(string) string) []byte {
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		if f != nil {
			s = f(s)
		}
		dst = jsonstr.Append(dst, s)
	}
	return append(dst, ']')
}

func appendValue(dst []byte, c *Cell) []byte {
	if c.Value == nil {
		return append(dst, "null"...)
	}
	return append(dst, c.Value...)
}

func appendTS(dst []byte, c *Cell) []byte {
	if c.tsJSON == nil {
		return append(dst, epochJSON...)
	}
	return append(dst, c.tsJSON...)
}
