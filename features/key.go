package features

import "strings"

// Entity keys. A view's row is addressed by the values of its join keys,
// in the view's declaration order, each as text (int64 in decimal, strings
// as they are) with '%' and ':' percent-escaped, joined by ':'. A redis or
// memory view's row is kept under {prefix}fv:{view}:{entity key}, in
// Redis and in the row cache alike; an http view's row under the shared
// cache's key fv:{view}:{entity key} (the cache adds its own prefix in
// Redis).

// appendEntityKey appends the entity key of row (values by join key column
// index cols) to dst.
func appendEntityKey(dst []byte, row []string, cols []int) []byte {
	for i, c := range cols {
		if i > 0 {
			dst = append(dst, ':')
		}
		dst = appendEscaped(dst, row[c])
	}
	return dst
}

func appendEscaped(dst []byte, s string) []byte {
	if !strings.ContainsAny(s, "%:") {
		return append(dst, s...)
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '%':
			dst = append(dst, "%25"...)
		case ':':
			dst = append(dst, "%3A"...)
		default:
			dst = append(dst, s[i])
		}
	}
	return dst
}

// appendRowKey appends the cache key of a row: fv:{view}:{entity key}.
func appendRowKey(dst []byte, v *view, row []string, cols []int) []byte {
	dst = append(dst, "fv:"...)
	dst = append(dst, v.name...)
	dst = append(dst, ':')
	return appendEntityKey(dst, row, cols)
}

// appendViewKey appends the key row is kept under (see above).
func (s *Store) appendViewKey(dst []byte, v *view, row []string, cols []int) []byte {
	if v.source != sourceHTTP {
		dst = append(dst, s.reg.cfg.KeyPrefix...)
	}
	return appendRowKey(dst, v, row, cols)
}
