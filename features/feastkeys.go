package features

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Feast's Python server reads entity columns in this order
// (feast.utils._prepare_entities_to_read_from_online_store): every column
// is converted to its join key's type (type_map.python_values_to_proto_values),
// then the columns' lengths are compared (_validate_entity_values), then
// each column is looked up as a join key (EntityNotFoundException). A
// request with several errors gets the first in that order, as there.

// feastRows checks Feast's entity columns and turns them into rows of
// text values.
func (s *Store) feastRows(keys []string, cols [][]json.RawMessage) ([][]string, error) {
	n := 0
	for k := range keys {
		n = max(n, len(cols[k]))
	}
	if n > s.reg.cfg.MaxEntities {
		return nil, errf(TooLarge, "too_many_entities", "%d entity rows, at most %d per request", n, s.reg.cfg.MaxEntities)
	}
	// Every value in one string, as parseNative does: one allocation for
	// the text of 100 entities, not one (or several) per value.
	var text []byte
	ends := make([]int, n*len(keys)) // cell i*len(keys)+k ends there
	for k, name := range keys {
		t, ok := s.reg.keyTypes[name]
		if !ok {
			continue // reported below, after the conversions
		}
		for i, raw := range cols[k] {
			if t2, ok := appendKeyText(text, t, raw); ok {
				text = t2 // the value is of the key's type already
			} else {
				v, err := feastKeyText(t, raw)
				if fe, ok := err.(*Error); ok {
					return nil, fe // Python's exception, as Feast raises it
				}
				if err != nil { // a case Feast's conversion is not modelled for
					return nil, errf(BadRequest, "bad_entities", "entities.%s[%d]: %v", clipStr(name), i, err)
				}
				text = append(text, v...)
			}
			ends[i*len(keys)+k] = len(text)
		}
	}
	for k := range keys {
		if len(cols[k]) != n {
			// A ValueError: the server answers 500 with its text.
			return nil, feastErr(BadRequest, "bad_entities", "ValueError", "All entity rows must have the same columns.")
		}
	}
	for _, name := range keys {
		if _, ok := s.reg.keyTypes[name]; !ok {
			// feast.utils raises EntityNotFoundException for a column that
			// is neither a join key nor an entity name, 404.
			return nil, feastErr(NotFound, "bad_entities", "EntityNotFoundException", "Entity %s does not exist", clipStr(name))
		}
	}
	// The cells were written column by column: a cell starts where the one
	// before it in its column ended, or where the column before ended.
	all := string(text)
	cells := make([]string, len(ends))
	start := 0
	for k := range keys {
		for i := range n {
			c := i*len(keys) + k
			cells[c] = all[start:ends[c]]
			start = ends[c]
		}
	}
	rows := make([][]string, n)
	for i := range rows {
		rows[i] = cells[i*len(keys) : (i+1)*len(keys) : (i+1)*len(keys)]
	}
	return rows, nil
}

// entityColumns parses Feast's entities object, keeping its key order:
// Feast returns the entity columns first, in the order they were given.
// The values are slices of raw, which ParseFeast has checked is JSON.
func entityColumns(raw json.RawMessage) ([]string, [][]json.RawMessage, error) {
	l := jsonLex{b: raw}
	switch l.peek() {
	case 0, 'n':
		return nil, nil, errf(BadRequest, "no_entities", "entities: missing")
	case '{':
	default:
		return nil, nil, errf(BadRequest, "bad_entities", "entities: want an object of columns")
	}
	var keys []string
	var cols [][]json.RawMessage
	empty, ok := l.open('{', '}')
	for more := !empty; ok && more; more = l.more('}') {
		b, ok2 := l.str()
		if !ok2 || !l.eat(':') {
			break
		}
		name := string(b)
		col, ok2 := entityColumn(&l)
		if !ok2 {
			if l.err != nil {
				break
			}
			return nil, nil, errf(BadRequest, "bad_entities", "entities.%s: want a list of values", clipStr(name))
		}
		if slices.Contains(keys, name) {
			return nil, nil, errf(BadRequest, "bad_entities", "entities.%s: given twice", clipStr(name))
		}
		keys = append(keys, name)
		cols = append(cols, col)
	}
	if l.err != nil {
		return nil, nil, badJSON(l.err)
	}
	return keys, cols, nil
}

// entityColumn reads one column: a list of values, or null for none;
// false with no l.err: it is some other value.
func entityColumn(l *jsonLex) ([]json.RawMessage, bool) {
	switch l.peek() {
	case 'n':
		return nil, l.literal("null")
	case '[':
	default:
		_, _ = l.skip()
		return nil, false
	}
	var col []json.RawMessage
	empty, ok := l.open('[', ']')
	for more := !empty; ok && more; more = l.more(']') {
		v, ok2 := l.skip()
		if !ok2 {
			return nil, false
		}
		col = append(col, v)
	}
	return col, ok && l.err == nil
}

// feastKeyText is keyText as Feast's Python server converts an entity
// value to its join key's type (feast/type_map.py,
// PYTHON_SCALAR_VALUE_TYPE_TO_PROTO_VALUE, which checks no input type for
// these two): an int64 key with Python's int(x), so "1001" and 1001.0 are
// 1001, and a string key with str(x), so 1001 is "1001". Where int(x)
// raises, the error is that exception, which the server answers 500.
// (Feast's Go server instead reads a quoted column as strings, which then
// match no int64 row: every value NOT_FOUND.)
func feastKeyText(t Scalar, raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return keyText(t, raw)
	}
	switch {
	case t == Int64:
		return feastInt(raw)
	case t == String && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9'):
		if _, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
			return string(raw), nil
		}
	}
	return keyText(t, raw)
}

// feastInt is Python's int(x) of a JSON value x, as an int64 proto field
// takes it.
func feastInt(raw json.RawMessage) (string, error) {
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return keyText(Int64, raw)
		}
		switch n, err := pyIntLiteral(s); {
		case err == nil:
			return strconv.FormatInt(n, 10), nil
		case errors.Is(err, strconv.ErrRange):
			return "", feastErr(BadRequest, "bad_entities", "ValueError", "Value out of range: %s", clipStr(strings.TrimSpace(s)))
		}
		return "", feastErr(BadRequest, "bad_entities", "ValueError",
			"invalid literal for int() with base 10: %s", pyRepr(clipStr(s)))
	case 't', 'f': // int(True) is 1
		if string(raw) == "true" {
			return "1", nil
		}
		if string(raw) == "false" {
			return "0", nil
		}
	case '[', '{':
		kind := "list"
		if raw[0] == '{' {
			kind = "dict"
		}
		return "", feastErr(BadRequest, "bad_entities", "TypeError",
			"int() argument must be a string, a bytes-like object or a real number, not '%s'", kind)
	case 'n':
		return keyText(Int64, raw) // None: Feast sends an empty value; not modelled
	}
	if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
		return strconv.FormatInt(n, 10), nil
	}
	// A float (or an integer past int64): int() truncates toward zero, and
	// the proto field refuses what does not fit.
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil && !math.IsInf(f, 0) {
		return keyText(Int64, raw)
	}
	if f = math.Trunc(f); f >= -(1<<63) && f < 1<<63 {
		return strconv.FormatInt(int64(f), 10), nil
	}
	return "", feastErr(BadRequest, "bad_entities", "ValueError", "Value out of range: %s", clipStr(string(raw)))
}

// pyIntLiteral parses s as Python's int(s) does in base 10: surrounding
// whitespace, a sign, and digits with single underscores between them.
// A literal past int64 is strconv.ErrRange: int() takes it, the proto
// field does not.
func pyIntLiteral(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "_") {
		body := strings.TrimLeft(s, "+-")
		if strings.HasPrefix(body, "_") || strings.HasSuffix(body, "_") || strings.Contains(body, "__") || len(s)-len(body) > 1 {
			return 0, strconv.ErrSyntax
		}
		s = strings.ReplaceAll(s, "_", "")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, err.(*strconv.NumError).Err
	}
	return n, nil
}

// pyRepr is Python's repr of a str, for the messages Python's own
// exceptions carry: single quotes, or double ones when the text holds a
// single quote and no double one.
func pyRepr(s string) string {
	q := byte('\'')
	if strings.ContainsRune(s, '\'') && !strings.ContainsRune(s, '"') {
		q = '"'
	}
	b := []byte{q}
	for _, r := range s {
		switch {
		case r == '\\' || r == rune(q):
			b = append(b, '\\', byte(r))
		case r == '\n':
			b = append(b, `\n`...)
		case r == '\r':
			b = append(b, `\r`...)
		case r == '\t':
			b = append(b, `\t`...)
		case r < 0x20 || r == 0x7f:
			b = append(b, `\x`...)
			b = append(b, "0123456789abcdef"[r>>4], "0123456789abcdef"[r&15])
		default:
			b = append(b, string(r)...)
		}
	}
	return string(append(b, q))
}
