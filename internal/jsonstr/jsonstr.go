// Package jsonstr appends Go strings as JSON strings without allocating, for
// the hand-written JSON writers of the feature endpoints, the error bodies
// and the access log. It is a leaf: it must never import another Tiercel
// package, and never grow a second escaping rule.
//
// The rule is Python's json.dumps(s, ensure_ascii=False), which is what
// Feast's feature server (FastAPI's JSONResponse) writes, so the
// Feast-compatible endpoints answer byte for byte as Feast does: '"' and
// '\' escaped with a backslash; \b, \f, \n, \r and \t in their short forms;
// other control characters as \u00xx; everything else, <, >, &, U+2028 and
// U+2029 included, as it is. Invalid UTF-8, which a Python string cannot
// hold, becomes \ufffd as encoding/json writes it. The output is then
// exactly encoding/json's with SetEscapeHTML(false), except that U+2028 and
// U+2029 stay literal (they matter only to JavaScript embedded in HTML;
// every response written with this is application/json).
package jsonstr

import "unicode/utf8"

const hex = "0123456789abcdef"

// Append appends s to dst as a JSON string, quotes included.
func Append[T []byte | string](dst []byte, s T) []byte {
	return append(AppendInner(append(dst, '"'), s), '"')
}

// AppendInner appends the inside of the JSON string for s, without the
// quotes, so a caller can write one string from several parts (the access
// log's path and query).
func AppendInner[T []byte | string](dst []byte, s T) []byte {
	start := 0 // the run of bytes not yet copied, written in one append
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			dst = appendASCIIEscape(dst, c)
			i++
			start = i
			continue
		}
		// At most UTFMax bytes converted: the compiler keeps the string
		// on the stack when T is []byte.
		r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			start = i + 1
		}
		i += size
	}
	return append(dst, s[start:]...)
}

// appendASCIIEscape escapes c, a '"', '\' or control character.
func appendASCIIEscape(dst []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(dst, '\\', c)
	case '\b':
		return append(dst, '\\', 'b')
	case '\f':
		return append(dst, '\\', 'f')
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	return append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
}
