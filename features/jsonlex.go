package features

import (
	"errors"
	"strconv"
	"unicode/utf8"
)

// jsonLex is a minimal JSON tokenizer over a request body, for the hand
// parser of POST /v1/features (nativeparse.go): encoding/json's
// reflection and per-value allocations were most of the cost of an
// all-L1 request. It accepts exactly the JSON grammar (RFC 8259) and
// decodes strings the way encoding/json does (invalid UTF-8 and lone
// surrogates become U+FFFD), so that the two parsers agree
// (FuzzParseNative holds them to it).
type jsonLex struct {
	b   []byte
	i   int
	err error
	buf []byte // unescaped strings
}

var errSyntax = errors.New("invalid JSON")

// maxDepth bounds the nesting of containers, as encoding/json does.
const maxDepth = 10000

func (l *jsonLex) fail(what string) bool {
	if l.err == nil {
		l.err = errors.New(what + " at offset " + strconv.Itoa(l.i))
	}
	return false
}

func (l *jsonLex) ws() {
	for l.i < len(l.b) && isSpace(l.b[l.i]) {
		l.i++
	}
}

// peek skips whitespace and returns the next byte (0 at the end).
func (l *jsonLex) peek() byte {
	l.ws()
	if l.i < len(l.b) {
		return l.b[l.i]
	}
	return 0
}

// eat consumes c, after whitespace.
func (l *jsonLex) eat(c byte) bool {
	if l.peek() != c {
		return l.fail("expected " + string(c))
	}
	l.i++
	return true
}

// literal consumes null, true or false.
func (l *jsonLex) literal(word string) bool {
	if len(l.b)-l.i < len(word) || string(l.b[l.i:l.i+len(word)]) != word {
		return l.fail("invalid literal")
	}
	l.i += len(word)
	return true
}

// open consumes the opening bracket of an object or array, and its
// closing one too when it is empty: empty reports that, ok is false on a
// syntax error.
func (l *jsonLex) open(open, close byte) (empty, ok bool) {
	if !l.eat(open) {
		return false, false
	}
	if l.peek() == close {
		l.i++
		return true, true
	}
	return false, true
}

// more reports, inside an array or object after its first element,
// whether another follows (consuming the comma) or it ends (consuming
// close).
func (l *jsonLex) more(close byte) bool {
	switch l.peek() {
	case ',':
		l.i++
		return true
	case close:
		l.i++
		return false
	}
	return l.fail("expected , or " + string(close))
}

// str reads a string and returns its decoded bytes: a slice of the body
// when it has no escapes, else of l.buf (valid until the next str).
func (l *jsonLex) str() ([]byte, bool) {
	if l.peek() != '"' {
		return nil, l.fail("expected a string")
	}
	l.i++
	start := l.i
	for l.i < len(l.b) {
		c := l.b[l.i]
		switch {
		case c == '"':
			l.i++
			return l.b[start : l.i-1], true
		case c == '\\' || c >= utf8.RuneSelf:
			return l.strSlow(start)
		case c < 0x20:
			return nil, l.fail("control character in string")
		}
		l.i++
	}
	return nil, l.fail("unterminated string")
}

func (l *jsonLex) strSlow(start int) ([]byte, bool) {
	l.buf = append(l.buf[:0], l.b[start:l.i]...)
	for l.i < len(l.b) {
		c := l.b[l.i]
		switch {
		case c == '"':
			l.i++
			return l.buf, true
		case c < 0x20:
			return nil, l.fail("control character in string")
		case c == '\\':
			if !l.escape() {
				return nil, false
			}
		case c < utf8.RuneSelf:
			l.buf = append(l.buf, c)
			l.i++
		default:
			r, size := utf8.DecodeRune(l.b[l.i:])
			if r == utf8.RuneError && size == 1 {
				l.buf = utf8.AppendRune(l.buf, utf8.RuneError)
			} else {
				l.buf = append(l.buf, l.b[l.i:l.i+size]...)
			}
			l.i += size
		}
	}
	return nil, l.fail("unterminated string")
}

// escape decodes the escape at l.i into l.buf.
func (l *jsonLex) escape() bool {
	if l.i+1 >= len(l.b) {
		return l.fail("unterminated string")
	}
	switch e := l.b[l.i+1]; e {
	case '"', '\\', '/':
		l.buf = append(l.buf, e)
	case 'b':
		l.buf = append(l.buf, '\b')
	case 'f':
		l.buf = append(l.buf, '\f')
	case 'n':
		l.buf = append(l.buf, '\n')
	case 'r':
		l.buf = append(l.buf, '\r')
	case 't':
		l.buf = append(l.buf, '\t')
	case 'u':
		r, ok := hex4(l.b, l.i+2)
		if !ok {
			return l.fail("invalid \\u escape")
		}
		l.i += 6
		if r >= 0xd800 && r < 0xdc00 {
			// A high surrogate pairs with a following \u low one, else
			// it is U+FFFD and the next escape is read on its own.
			if lo, ok := hex4(l.b, l.i+2); ok && l.i+1 < len(l.b) && l.b[l.i] == '\\' && l.b[l.i+1] == 'u' && lo >= 0xdc00 && lo < 0xe000 {
				r = 0x10000 + (r-0xd800)<<10 + (lo - 0xdc00)
				l.i += 6
			} else {
				r = utf8.RuneError
			}
		} else if r >= 0xdc00 && r < 0xe000 {
			r = utf8.RuneError
		}
		l.buf = utf8.AppendRune(l.buf, r)
		return true
	default:
		return l.fail("invalid escape")
	}
	l.i += 2
	return true
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// number consumes a number and returns its text.
func (l *jsonLex) number() ([]byte, bool) {
	l.ws()
	n := numberLen(l.b[l.i:])
	if n == 0 {
		return nil, l.fail("invalid number")
	}
	l.i += n
	return l.b[l.i-n : l.i], true
}

// numberLen is the length of the JSON number at the start of b, or 0.
func numberLen(b []byte) int {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return 0
	}
	if i < len(b) && b[i] == '.' {
		i++
		f := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == f {
			return 0
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		e := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == e {
			return 0
		}
	}
	return i
}

// skip consumes one value of any kind and returns its text.
func (l *jsonLex) skip() ([]byte, bool) {
	return l.skipIn(0)
}

// skipIn is skip for a value inside open containers: encoding/json
// refuses a body whose containers nest more than maxDepth deep, counted
// from the top of the body.
func (l *jsonLex) skipIn(open int) ([]byte, bool) {
	l.ws()
	start := l.i
	if !l.skipDepth(open) {
		return nil, false
	}
	return l.b[start:l.i], true
}

func (l *jsonLex) skipDepth(open int) bool {
	c := l.peek()
	if (c == '{' || c == '[') && open >= maxDepth {
		return l.fail("nested too deep")
	}
	switch c {
	case '"':
		_, ok := l.str()
		return ok
	case '{':
		l.i++
		if l.peek() == '}' {
			l.i++
			return true
		}
		for {
			if _, ok := l.str(); !ok || !l.eat(':') || !l.skipDepth(open+1) {
				return false
			}
			if !l.more('}') {
				return l.err == nil
			}
		}
	case '[':
		l.i++
		if l.peek() == ']' {
			l.i++
			return true
		}
		for {
			if !l.skipDepth(open + 1) {
				return false
			}
			if !l.more(']') {
				return l.err == nil
			}
		}
	case 't':
		return l.literal("true")
	case 'f':
		return l.literal("false")
	case 'n':
		return l.literal("null")
	}
	_, ok := l.number()
	return ok
}

// end checks that only whitespace is left.
func (l *jsonLex) end() bool {
	if l.peek() != 0 || l.i < len(l.b) {
		return l.fail("unexpected data after the JSON body")
	}
	return true
}
