package httpcache

import "time"

// Directives are the Cache-Control directives of a response that a shared
// cache acts on (RFC 9111 §5.2.2), read from every field line of the field.
type Directives struct {
	NoStore, NoCache, Private, Public bool
	// MustRevalidate is must-revalidate or proxy-revalidate (the latter
	// applies to shared caches only, which this one is: §5.2.2.8).
	MustRevalidate bool
	// MaxAge, SMaxAge, StaleWhileRevalidate and StaleIfError are the
	// delta-seconds directives (RFC 5861 for the last two).
	MaxAge, SMaxAge, StaleWhileRevalidate, StaleIfError Delta
}

// Delta is one delta-seconds directive (RFC 9111 §1.2.2).
type Delta struct {
	// Present: the directive was sent.
	Present bool
	// Invalid: it was sent malformed (not digits, a negative number, a
	// space around '=', single quotes) or twice with two values. The
	// response is then stale (§4.2.1: "caches are encouraged to consider
	// responses that have invalid freshness information ... to be stale").
	Invalid bool
	// D is the value; 0 when Invalid. Values beyond 2^31 seconds are 2^31
	// (§1.2.2).
	D time.Duration
}

// maxDelta is 2^31 seconds, the value a cache must assume for any larger
// delta-seconds (RFC 9111 §1.2.2).
const maxDelta = time.Duration(1<<31) * time.Second

// valid reports whether the directive is present with a usable value.
func (d Delta) valid() bool { return d.Present && !d.Invalid }

// ParseDirectives reads a Cache-Control field sent as the given field
// lines as the one list they make (RFC 9110 §5.3): a no-store on the
// second line counts as much as one on the first.
func ParseDirectives(lines [][]byte) Directives {
	var d Directives
	for _, l := range lines {
		d.parse(l)
	}
	return d
}

// parse adds the directives of one field line (RFC 9111 §5.2:
// cache-directive = token [ "=" ( token / quoted-string ) ]). Names are
// case-insensitive; a phrase inside a quoted string is never a directive.
func (d *Directives) parse(v []byte) {
	var p lexer
	p.s = v
	for p.next() {
		name, value, ok := p.name, p.value, p.ok
		switch {
		case equalFold(name, "no-store"):
			d.NoStore = true
		case equalFold(name, "no-cache"):
			// A qualified no-cache="Set-Cookie" names fields that must not
			// be sent without revalidation; plain no-cache is the safe
			// reading of it.
			d.NoCache = true
		case equalFold(name, "private"):
			d.Private = true
		case equalFold(name, "public"):
			d.Public = true
		case equalFold(name, "must-revalidate"), equalFold(name, "proxy-revalidate"):
			d.MustRevalidate = true
		case equalFold(name, "max-age"):
			d.MaxAge.set(value, ok)
		case equalFold(name, "s-maxage"):
			d.SMaxAge.set(value, ok)
		case equalFold(name, "stale-while-revalidate"):
			d.StaleWhileRevalidate.set(value, ok)
		case equalFold(name, "stale-if-error"):
			d.StaleIfError.set(value, ok)
		}
	}
}

// set records one occurrence. A quoted value is accepted (RFC 9111 §5.2:
// recipients may accept the quoted form); anything else that is not all
// digits is invalid, and so is a second occurrence with another value.
func (d *Delta) set(value []byte, ok bool) {
	v, valid := parseDelta(value)
	if !ok || !valid {
		d.Present, d.Invalid, d.D = true, true, 0
		return
	}
	if d.Present && (d.Invalid || d.D != v) {
		d.Invalid, d.D = true, 0
		return
	}
	d.Present, d.D = true, v
}

// parseDelta reads delta-seconds: 1*DIGIT, capped at 2^31 seconds.
func parseDelta(v []byte) (time.Duration, bool) {
	if len(v) == 0 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		if n < 1<<31 {
			n = n*10 + int64(c-'0')
		}
	}
	return time.Duration(min(n, 1<<31)) * time.Second, true
}

// lexer walks the elements of a Cache-Control field line.
type lexer struct {
	s   []byte
	pos int
	// The element just read: its name, its value (unquoted), whether the
	// value was a quoted-string, and whether the element was well formed.
	name, value []byte
	quoted, ok  bool
}

// next reads the next element; false at the end of the line.
func (p *lexer) next() bool {
	s := p.s
	i := p.pos
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == ',') {
		i++
	}
	if i == len(s) {
		p.pos = i
		return false
	}
	start := i
	for i < len(s) && isTchar(s[i]) {
		i++
	}
	p.name, p.value, p.quoted, p.ok = s[start:i], nil, false, i > start
	if i < len(s) && s[i] == '=' {
		i++
		switch {
		case i < len(s) && s[i] == '"':
			var closed bool
			p.value, i, closed = quotedString(s, i)
			p.quoted, p.ok = true, p.ok && closed
		default:
			vs := i
			for i < len(s) && isTchar(s[i]) {
				i++
			}
			p.value = s[vs:i]
			p.ok = p.ok && i > vs
		}
	}
	// Anything but OWS before the next comma makes the element malformed
	// ("max-age =100", "max-age= 100", "max-age='1'"); the rest of it is
	// skipped, quoted strings whole.
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	for i < len(s) && s[i] != ',' {
		p.ok = false
		if s[i] == '"' {
			_, i, _ = quotedString(s, i)
			continue
		}
		i++
	}
	p.pos = i
	return true
}

// quotedString reads the quoted-string starting at s[i] == '"' and returns
// its content (escapes kept: delta-seconds never hold one), the index after
// it, and whether it was closed.
func quotedString(s []byte, i int) ([]byte, int, bool) {
	start := i + 1
	for i = start; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return s[start:i], i + 1, true
		}
	}
	return s[start:], len(s), false
}

// isTchar reports whether c may appear in an HTTP token (RFC 9110 §5.6.2).
func isTchar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
