package reqtarget

// class says what a byte is in a path.
type class uint8

const (
	classEncode  class = iota // legal only percent-encoded: encode it
	classRaw                  // pchar or '/': kept as is
	classControl              // never legal
)

// classes is RFC 3986's pchar (unreserved, sub-delims, ':' and '@') plus
// the '/' separator as classRaw; '%' and '\' are handled apart.
var classes = func() (t [256]class) {
	for c := range 0x20 {
		t[c] = classControl
	}
	t[0x7f] = classControl
	for _, c := range []byte("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@/") {
		t[c] = classRaw
	}
	return t
}()

func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// isNormal reports whether p (starting with '/') is already its own normal
// form: raw pchars and escapes that must stay escaped (upper-case hex), no
// empty segment, no dot segment. Most real paths are, and then nothing is
// copied.
func (o Options) isNormal(p []byte) bool {
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '%' {
			if !o.keptEscape(p[i+1:]) {
				return false
			}
			i += 2
			continue
		}
		if classes[c] != classRaw {
			return false
		}
		if c != '/' {
			continue
		}
		if i+1 < len(p) && p[i+1] == '/' {
			return false
		}
		if i+1 < len(p) && p[i+1] == '.' && isDotLike(p[i+1:]) {
			return false
		}
	}
	return true
}

// keptEscape reports whether rest starts with the two upper-case hex digits
// of a byte that the normal form keeps percent-encoded.
func (o Options) keptEscape(rest []byte) bool {
	if len(rest) < 2 || !isUpperHex(rest[0]) || !isUpperHex(rest[1]) {
		return false
	}
	hi, _ := unhex(rest[0])
	lo, _ := unhex(rest[1])
	v := hi<<4 | lo
	return !unreserved(v) && (o.KeepEscapedSlashes || v != '/' && v != '\\')
}

func isUpperHex(c byte) bool { return '0' <= c && c <= '9' || 'A' <= c && c <= 'F' }

// isDotLike reports whether the segment at the start of rest is a dot
// segment, or one hidden behind a parameter (".;x", "..;x").
func isDotLike(rest []byte) bool {
	n := 0
	for n < len(rest) && n < 2 && rest[n] == '.' {
		n++
	}
	return n == len(rest) || rest[n] == '/' || rest[n] == ';'
}

// normalize writes p's normal form to dst (see the package comment).
func (o Options) normalize(dst, p []byte) ([]byte, error) {
	dst = append(dst, '/')
	rest := p[1:]
	endsInSegment := false // the last segment was kept: no trailing slash
	for {
		seg, tail, last := cut(rest)
		start := len(dst)
		var err error
		if dst, err = o.appendSegment(dst, seg); err != nil {
			return dst, err
		}
		s := dst[start:]
		endsInSegment = false
		switch {
		case len(s) == 0: // "//": merged
		case len(s) == 1 && s[0] == '.':
			dst = dst[:start]
		case len(s) == 2 && s[0] == '.' && s[1] == '.':
			dst = parent(dst[:start])
		case isDotLike(s):
			return dst, ErrDotParam
		default:
			dst = append(dst, '/')
			endsInSegment = true
		}
		if last {
			break
		}
		rest = tail
	}
	if endsInSegment {
		dst = dst[:len(dst)-1]
	}
	return dst, nil
}

// parent drops the last segment of dst, which ends with '/'; the root has
// no parent and stays.
func parent(dst []byte) []byte {
	if len(dst) <= 1 {
		return dst
	}
	i := len(dst) - 2
	for dst[i] != '/' {
		i--
	}
	return dst[:i+1]
}

// cut splits off rest's first segment; last reports that no '/' followed.
func cut(rest []byte) (seg, tail []byte, last bool) {
	for i, c := range rest {
		if c == '/' {
			return rest[:i], rest[i+1:], false
		}
	}
	return rest, nil, true
}

const upperHex = "0123456789ABCDEF"

// appendSegment appends one segment in normal form.
func (o Options) appendSegment(dst, seg []byte) ([]byte, error) {
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		switch {
		case c == '%':
			if i+2 >= len(seg) {
				return dst, ErrBadEscape
			}
			hi, ok1 := unhex(seg[i+1])
			lo, ok2 := unhex(seg[i+2])
			if !ok1 || !ok2 {
				return dst, ErrBadEscape
			}
			v := hi<<4 | lo
			i += 2
			switch {
			case unreserved(v):
				dst = append(dst, v)
			case (v == '/' || v == '\\') && !o.KeepEscapedSlashes:
				return dst, ErrEscapedSlash
			default:
				dst = append(dst, '%', upperHex[v>>4], upperHex[v&15])
			}
		case c == '\\':
			if !o.KeepEscapedSlashes {
				return dst, ErrEscapedSlash
			}
			dst = append(dst, "%5C"...)
		case classes[c] == classRaw:
			dst = append(dst, c)
		case classes[c] == classControl:
			return dst, ErrBadTarget
		default:
			dst = append(dst, '%', upperHex[c>>4], upperHex[c&15])
		}
	}
	return dst, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// AppendUnescaped appends v, a part of a path in normal form (a segment, a
// path parameter), with its percent-escapes decoded: the value a parameter
// stands for, "café" for caf%C3%A9. Well-formed escapes are guaranteed by
// Parse; any other '%' is copied as is.
func AppendUnescaped(dst, v []byte) []byte {
	for i := 0; i < len(v); i++ {
		if v[i] == '%' && i+2 < len(v) {
			hi, ok1 := unhex(v[i+1])
			lo, ok2 := unhex(v[i+2])
			if ok1 && ok2 {
				dst = append(dst, hi<<4|lo)
				i += 2
				continue
			}
		}
		dst = append(dst, v[i])
	}
	return dst
}
