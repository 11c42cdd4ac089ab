package features

import (
	"errors"
	"fmt"
	"math"
	"strconv"
)

// dtype is an Open Inference Protocol tensor datatype ("Tensor Data
// Types" in the spec) that a model input or output can be: those whose
// elements JSON carries as numbers or booleans. BYTES (strings) is no
// model input here, and FP16/BF16 have no JSON representation the spec
// vouches for ("fp16 is problematic to communicate explicitly").
type dtype uint8

const (
	dtFP64 dtype = iota + 1
	dtFP32
	dtINT8
	dtINT16
	dtINT32
	dtINT64
	dtUINT8
	dtUINT16
	dtUINT32
	dtUINT64
	dtBOOL
)

var dtypeNames = [...]string{dtFP64: "FP64", dtFP32: "FP32", dtINT8: "INT8", dtINT16: "INT16", dtINT32: "INT32",
	dtINT64: "INT64", dtUINT8: "UINT8", dtUINT16: "UINT16", dtUINT32: "UINT32", dtUINT64: "UINT64", dtBOOL: "BOOL"}

func (d dtype) String() string { return dtypeNames[d] }

// parseDtype returns the datatype named s, or 0 with why it is refused.
func parseDtype(s string) (dtype, error) {
	for d, n := range dtypeNames {
		if n != "" && n == s {
			return dtype(d), nil
		}
	}
	switch s {
	case "BYTES":
		return 0, errors.New("datatype BYTES: the model takes numbers")
	case "FP16", "BF16":
		return 0, fmt.Errorf("datatype %s: not representable in JSON (send FP32 or FP64)", s)
	}
	return 0, fmt.Errorf("unknown datatype %q", clipStr(s))
}

// maxExact is the largest integer every float64 up to it holds exactly:
// INT64 and UINT64 values beyond it would collide in the prediction key.
const maxExact = 1 << 53

// bounds returns the integer range of d (ok false for float and bool).
func (d dtype) bounds() (lo, hi float64, ok bool) {
	switch d {
	case dtINT8:
		return math.MinInt8, math.MaxInt8, true
	case dtINT16:
		return math.MinInt16, math.MaxInt16, true
	case dtINT32:
		return math.MinInt32, math.MaxInt32, true
	case dtINT64:
		return -maxExact, maxExact, true
	case dtUINT8:
		return 0, math.MaxUint8, true
	case dtUINT16:
		return 0, math.MaxUint16, true
	case dtUINT32:
		return 0, math.MaxUint32, true
	case dtUINT64:
		return 0, maxExact, true
	}
	return 0, 0, false
}

// check reports whether f is a value of d.
func (d dtype) check(f float64) error {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return errors.New("not a finite number")
	}
	switch d {
	case dtBOOL:
		if f != 0 && f != 1 {
			return fmt.Errorf("%g is not a BOOL (0 or 1)", f)
		}
	case dtFP32:
		if math.Abs(f) > math.MaxFloat32 {
			return fmt.Errorf("%g overflows FP32", f)
		}
	case dtFP64:
	default:
		lo, hi, _ := d.bounds()
		if f != math.Trunc(f) || f < lo || f > hi {
			return fmt.Errorf("%g is not an exact %s", f, d)
		}
	}
	return nil
}

// appendValue appends f as a JSON element of d; f must pass check.
func (d dtype) appendValue(dst []byte, f float64) []byte {
	switch d {
	case dtBOOL:
		return appendBool(dst, f == 1)
	case dtFP64:
		return appendFloat(dst, f, 64)
	case dtFP32:
		return appendFloat(dst, float64(float32(f)), 32)
	}
	return strconv.AppendInt(dst, int64(f), 10)
}

// appendTensorData appends the elements of a JSON tensor "data" array to
// dst, flattened in row-major order as the spec's "Tensor Data" allows
// them nested or flat. want is the element type: BOOL takes JSON
// booleans, the others numbers of the type (0 accepts both, as a client
// reading an answer of a datatype it does not check).
func appendTensorData(dst []float64, data []byte, want dtype) ([]float64, error) {
	l := jsonLex{b: data}
	dst, err := l.tensorData(dst, want, 0)
	if err == nil && !l.end() {
		err = l.err
	}
	return dst, err
}

func (l *jsonLex) tensorData(dst []float64, want dtype, depth int) ([]float64, error) {
	if depth > 32 {
		return dst, errors.New("data nested too deep")
	}
	empty, ok := l.open('[', ']')
	if !ok {
		return dst, errors.New("data is not a JSON array")
	}
	if empty {
		return dst, nil
	}
	for {
		var err error
		switch c := l.peek(); {
		case c == '[':
			dst, err = l.tensorData(dst, want, depth+1)
		case c == 't' || c == 'f':
			if want != 0 && want != dtBOOL {
				return dst, fmt.Errorf("a boolean in %s data", want)
			}
			word := "false"
			if c == 't' {
				word = "true"
			}
			if !l.literal(word) {
				return dst, l.err
			}
			dst = append(dst, b2f(c == 't'))
		default:
			if want == dtBOOL {
				return dst, errors.New("BOOL data must be true or false")
			}
			num, ok := l.number()
			if !ok {
				return dst, fmt.Errorf("an element that is not a number: %w", l.err)
			}
			f, perr := strconv.ParseFloat(string(num), 64)
			if perr != nil {
				return dst, fmt.Errorf("%s is out of range", clipStr(string(num)))
			}
			if want != 0 {
				err = want.check(f)
			}
			dst = append(dst, f)
		}
		if err != nil {
			return dst, err
		}
		if !l.more(']') {
			if l.err != nil {
				return dst, l.err
			}
			return dst, nil
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
