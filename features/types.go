package features

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/tiercel/tiercel/internal/jsonstr"
)

// Scalar is the element type of a feature value.
type Scalar uint8

const (
	Int64 Scalar = iota + 1
	Float64
	String
	Bool
	Float32 // only as the element of a vector
)

var scalarNames = map[string]Scalar{"int64": Int64, "float64": Float64, "string": String, "bool": Bool}

func (s Scalar) String() string {
	switch s {
	case Int64:
		return "int64"
	case Float64:
		return "float64"
	case String:
		return "string"
	case Bool:
		return "bool"
	case Float32:
		return "float32"
	}
	return fmt.Sprintf("Scalar(%d)", uint8(s))
}

// Type is a feature's type: a scalar, a list of scalars (`list<int64>`), or
// a fixed-size float32 vector (`float32_vector[8]`).
type Type struct {
	Elem Scalar
	List bool // list<Elem>
	Dim  int  // > 0: float32_vector[Dim]
}

// maxDim bounds vector sizes; larger embeddings belong in a vector store.
const maxDim = 65536

// ParseType parses a type name as written in the registry.
func ParseType(s string) (Type, error) {
	if e, ok := scalarNames[s]; ok {
		return Type{Elem: e}, nil
	}
	if in, ok := strings.CutPrefix(s, "list<"); ok {
		if in, ok = strings.CutSuffix(in, ">"); ok {
			if e, ok := scalarNames[in]; ok {
				return Type{Elem: e, List: true}, nil
			}
		}
	}
	if in, ok := strings.CutPrefix(s, "float32_vector["); ok {
		if in, ok = strings.CutSuffix(in, "]"); ok {
			if n, err := strconv.Atoi(in); err == nil && n > 0 && n <= maxDim {
				return Type{Elem: Float32, Dim: n}, nil
			}
		}
	}
	return Type{}, fmt.Errorf("unknown type %q (want int64, float64, string, bool, list<T> or float32_vector[N])", s)
}

func (t Type) String() string {
	switch {
	case t.Dim > 0:
		return fmt.Sprintf("float32_vector[%d]", t.Dim)
	case t.List:
		return "list<" + t.Elem.String() + ">"
	}
	return t.Elem.String()
}

// Numeric reports whether the type can feed a model input.
func (t Type) Numeric() bool {
	return t.Dim > 0 || (!t.List && (t.Elem == Int64 || t.Elem == Float64 || t.Elem == Bool))
}

// Width is the number of model inputs the type feeds.
func (t Type) Width() int {
	if t.Dim > 0 {
		return t.Dim
	}
	return 1
}

// Values travel through the package in their canonical JSON form: what the
// wire formats render is then a copy, and L1 rows hold it ready-made.

// canonJSON checks that raw is a JSON value of type t and appends its
// canonical rendering to dst. null is rejected: absence is a status.
func (t Type) canonJSON(dst, raw []byte) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case t.Dim > 0:
		var v []float32
		if err := strictUnmarshal(raw, &v); err != nil {
			return dst, fmt.Errorf("want %s: %w", t, err)
		}
		if len(v) != t.Dim {
			return dst, fmt.Errorf("want %s, got %d elements", t, len(v))
		}
		return appendFloat32s(dst, v), nil
	case t.List:
		if len(raw) == 0 || raw[0] != '[' {
			return dst, fmt.Errorf("want %s, got %s", t, jsonKind(raw))
		}
		var elems []json.RawMessage
		if err := json.Unmarshal(raw, &elems); err != nil {
			return dst, fmt.Errorf("want %s: %w", t, err)
		}
		dst = append(dst, '[')
		for i, e := range elems {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			elem := Type{Elem: t.Elem}
			if dst, err = elem.canonJSON(dst, e); err != nil {
				return dst, fmt.Errorf("element %d: %w", i, err)
			}
		}
		return append(dst, ']'), nil
	}
	switch t.Elem {
	case Int64:
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil {
			return dst, fmt.Errorf("want int64, got %s", jsonKind(raw))
		}
		return strconv.AppendInt(dst, n, 10), nil
	case Float64:
		if len(raw) == 0 || !(raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9')) {
			return dst, fmt.Errorf("want float64, got %s", jsonKind(raw))
		}
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil {
			return dst, fmt.Errorf("want float64, got %s", jsonKind(raw))
		}
		return appendFloat(dst, f, 64), nil
	case String:
		var s string
		if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
			return dst, fmt.Errorf("want string, got %s", jsonKind(raw))
		}
		return jsonstr.Append(dst, s), nil
	case Bool:
		switch string(raw) {
		case "true", "false":
			return append(dst, raw...), nil
		}
		return dst, fmt.Errorf("want bool, got %s", jsonKind(raw))
	}
	panic(fmt.Sprintf("BUG: type %v has no JSON form", t))
}

func strictUnmarshal(raw []byte, v any) error {
	if len(raw) == 0 || raw[0] != '[' {
		return fmt.Errorf("got %s", jsonKind(raw))
	}
	return json.Unmarshal(raw, v)
}

// jsonKind names what a JSON value is, for error messages that must not
// echo arbitrarily long client input.
func jsonKind(raw []byte) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "a string"
	case '[':
		return "a list"
	case '{':
		return "an object"
	case 't', 'f':
		return "a bool"
	case 'n':
		return "null"
	}
	if bytes.ContainsAny(raw, ".eE") {
		return "a number with a fraction or exponent"
	}
	return "a number"
}

// isFloat: the values are floats or lists or vectors of them.
func (t Type) isFloat() bool { return t.Elem == Float64 || t.Elem == Float32 }

// appendFloat renders finite floats the way JSON wants them; integral
// values keep no fraction (1, not 1.0), which JSON readers accept.
func appendFloat(dst []byte, f float64, bits int) []byte {
	return strconv.AppendFloat(dst, f, 'g', -1, bits)
}

func appendFloat32s(dst []byte, v []float32) []byte {
	dst = append(dst, '[')
	for i, f := range v {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendFloat(dst, float64(f), 32)
	}
	return append(dst, ']')
}

// numbers appends the model inputs of a canonical JSON value of type t.
func (t Type) numbers(dst []float64, canon []byte) ([]float64, error) {
	switch {
	case t.Dim > 0:
		var v []float32
		if err := json.Unmarshal(canon, &v); err != nil {
			return dst, err
		}
		for _, f := range v {
			dst = append(dst, float64(f))
		}
		return dst, nil
	case t.Elem == Bool:
		if len(canon) > 0 && canon[0] == 't' {
			return append(dst, 1), nil
		}
		return append(dst, 0), nil
	case !t.List && (t.Elem == Int64 || t.Elem == Float64):
		f, err := strconv.ParseFloat(string(canon), 64)
		return append(dst, f), err
	}
	return dst, fmt.Errorf("type %s is not numeric", t)
}
