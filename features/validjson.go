package features

import (
	"bytes"
	"strconv"
	"unicode/utf8"
)

// Stored values are JSON, and a read copies them into replies as they
// are: so every value read from a store is checked to be exactly one JSON
// value of its feature's type, without decoding it. The check allocates
// nothing and is a byte scan, except for the rare number whose magnitude
// could overflow its type (an exponent, or very many digits), which is
// parsed to make sure it does not. What it accepts, canonJSON accepts too
// (FuzzValidJSON holds it to that); it may accept non-canonical spellings
// (1.50, spaces in lists): they are valid JSON and render as stored.

// validJSON reports whether b is one JSON value of type t.
func (t Type) validJSON(b []byte) bool {
	switch {
	case t.Dim > 0:
		n, ok := validList(b, Float32)
		return ok && n == t.Dim
	case t.List:
		_, ok := validList(b, t.Elem)
		return ok
	}
	return validScalar(b, t.Elem)
}

func validScalar(b []byte, e Scalar) bool {
	switch e {
	case Int64:
		return validInt64(b)
	case Float64:
		return validNumber(b, 64)
	case Float32:
		return validNumber(b, 32)
	case String:
		n := scanString(b)
		return n > 0 && n == len(b)
	case Bool:
		return string(b) == "true" || string(b) == "false"
	}
	return false
}

// validList checks a JSON array of scalars e and returns its length.
func validList(b []byte, e Scalar) (int, bool) {
	if len(b) < 2 || b[0] != '[' || b[len(b)-1] != ']' {
		return 0, false
	}
	in := skipSpace(b[1 : len(b)-1])
	if len(in) == 0 {
		return 0, true
	}
	n := 0
	for {
		end := scalarEnd(in, e)
		if end <= 0 || !validScalar(in[:end], e) {
			return 0, false
		}
		n++
		in = skipSpace(in[end:])
		if len(in) == 0 {
			return n, true
		}
		if in[0] != ',' {
			return 0, false
		}
		in = skipSpace(in[1:])
	}
}

// scalarEnd is the length of the scalar token at the start of b (a string
// or a run of non-delimiter bytes), or 0.
func scalarEnd(b []byte, e Scalar) int {
	if e == String {
		return scanString(b)
	}
	i := 0
	for i < len(b) && b[i] != ',' && !isSpace(b[i]) {
		i++
	}
	return i
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	return b
}

// maxInt64Text is the largest int64 in decimal; a 19-digit number is
// compared with it as text, which is exact for equal lengths.
const maxInt64Text = "9223372036854775807"

func validInt64(b []byte) bool {
	neg := len(b) > 0 && b[0] == '-'
	d := b
	if neg {
		d = b[1:]
	}
	if len(d) == 0 || len(d) > 19 || (d[0] == '0' && len(d) > 1) {
		return false
	}
	for _, c := range d {
		if c < '0' || c > '9' {
			return false
		}
	}
	if len(d) == 19 {
		lim := maxInt64Text
		if neg {
			lim = "9223372036854775808"
		}
		return string(d) <= lim
	}
	return true
}

// validNumber checks the JSON number grammar; a number that could be out
// of range for a float of bits bits is parsed to be sure it is not.
func validNumber(b []byte, bits int) bool {
	if len(b) == 0 || numberLen(b) != len(b) {
		return false
	}
	digits := b
	if digits[0] == '-' {
		digits = digits[1:]
	}
	intDigits := 0
	for intDigits < len(digits) && digits[intDigits] >= '0' && digits[intDigits] <= '9' {
		intDigits++
	}
	exp := bytes.ContainsAny(b, "eE")
	// float32 overflows past 3.4e38 (39 integer digits), float64 past
	// 1.8e308; below those no exponent-free number can.
	if exp || (bits == 32 && intDigits >= 39) || intDigits >= 309 {
		// strconv does not keep its argument: the conversion stays on the stack.
		_, err := strconv.ParseFloat(string(b), bits)
		return err == nil
	}
	return true
}

// scanString returns the length of the JSON string at the start of b (quotes
// included), or 0 when b does not start with a valid one: escapes as JSON
// defines them, no raw control characters, valid UTF-8.
func scanString(b []byte) int {
	if len(b) < 2 || b[0] != '"' {
		return 0
	}
	for i := 1; i < len(b); {
		c := b[i]
		switch {
		case c == '"':
			return i + 1
		case c < 0x20:
			return 0
		case c == '\\':
			if i+1 >= len(b) {
				return 0
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex4(b[i+2:i+6]) {
					return 0
				}
				i += 6
			default:
				return 0
			}
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return 0
			}
			i += size
		}
	}
	return 0
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
