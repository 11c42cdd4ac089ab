package features

import (
	"bytes"
	"slices"
	"strconv"
)

// parseNative parses a POST /v1/features body by hand: the same language
// as encoding/json decoding into nativeRequest with unknown fields
// disallowed (field names matched case-insensitively, a repeated field or
// entity key: the last wins, null as the zero value), without reflection
// and with a handful of allocations per request rather than several per
// entity. Refs and join key names come back as the registry's own strings;
// entity values share one string.
func (s *Store) parseNative(body []byte) (refs, keys []string, rows [][]string, err error) {
	p := nativeParser{s: s, lex: jsonLex{b: body}}
	if !p.top() || !p.lex.end() || p.lex.err != nil {
		if p.lex.err == nil {
			p.lex.err = errSyntax // BUG guard: every failure names itself
		}
		return nil, nil, nil, badJSON(p.lex.err)
	}
	if len(p.ents) > s.reg.cfg.MaxEntities {
		return nil, nil, nil, errf(TooLarge, "too_many_entities", "%d entity rows, at most %d per request", len(p.ents), s.reg.cfg.MaxEntities)
	}
	keys, rows, err = p.rows()
	return p.refs, keys, rows, err
}

// nativeParser holds what a body says until the columns are known.
type nativeParser struct {
	s    *Store
	lex  jsonLex
	refs []string
	ents []entityObj
	kvs  []keyVal // every entity's keys, entity after entity
	cols []string // union of the entities' keys, registry strings
	// unknown lists the join keys the registry does not know.
	unknown []string
}

// entityObj is one entity object: its keys' values as raw JSON, kvs[from:to].
type entityObj struct {
	from, to int
}

type keyVal struct {
	key string // a registry join key name
	raw []byte // a slice of the body
}

func (p *nativeParser) top() bool {
	l := &p.lex
	if l.peek() == 'n' {
		return l.literal("null")
	}
	if empty, ok := l.open('{', '}'); !ok || empty {
		return ok
	}
	for {
		name, ok := l.str()
		if !ok || !l.eat(':') {
			return false
		}
		switch {
		case bytes.EqualFold(name, []byte("features")):
			ok = p.features()
		case bytes.EqualFold(name, []byte("entities")):
			ok = p.entities()
		default:
			return l.fail("unknown field " + strconv.Quote(clipStr(string(name))))
		}
		if !ok {
			return false
		}
		if !l.more('}') {
			return l.err == nil
		}
	}
}

func (p *nativeParser) features() bool {
	l := &p.lex
	p.refs = p.refs[:0]
	if l.peek() == 'n' {
		p.refs = nil
		return l.literal("null")
	}
	empty, ok := l.open('[', ']')
	if !ok {
		return false
	}
	if empty {
		p.refs = []string{}
		return true
	}
	for {
		var ref []byte
		if l.peek() == 'n' {
			if !l.literal("null") {
				return false
			}
		} else if r, ok := l.str(); ok {
			ref = r
		} else {
			return false
		}
		// A known ref costs no allocation: the registry has its string.
		canon, known := p.s.reg.refNames[string(ref)]
		if !known {
			canon = string(ref)
		}
		p.refs = append(p.refs, canon)
		if !l.more(']') {
			return l.err == nil
		}
	}
}

func (p *nativeParser) entities() bool {
	l := &p.lex
	// A repeated field: the last one wins, as with encoding/json.
	p.ents, p.kvs, p.cols, p.unknown = p.ents[:0], p.kvs[:0], p.cols[:0], p.unknown[:0]
	if l.peek() == 'n' {
		p.ents = nil
		return l.literal("null")
	}
	if empty, ok := l.open('[', ']'); !ok || empty {
		return ok
	}
	for {
		e := entityObj{from: len(p.kvs), to: len(p.kvs)}
		if l.peek() == 'n' {
			if !l.literal("null") {
				return false
			}
		} else if !p.entity(&e) {
			return false
		}
		p.ents = append(p.ents, e)
		if !l.more(']') {
			return l.err == nil
		}
	}
}

func (p *nativeParser) entity(e *entityObj) bool {
	l := &p.lex
	if empty, ok := l.open('{', '}'); !ok || empty {
		return ok
	}
	for {
		name, ok := l.str()
		if !ok || !l.eat(':') {
			return false
		}
		key, known := p.s.reg.keyNames[string(name)]
		if !known {
			key = string(name)
			if !slices.Contains(p.unknown, key) {
				p.unknown = append(p.unknown, key)
			}
		}
		raw, ok := l.skipIn(3) // in the body, the entities list, the entity
		if !ok {
			return false
		}
		if i := slices.IndexFunc(p.kvs[e.from:], func(kv keyVal) bool { return kv.key == key }); i >= 0 {
			p.kvs[e.from+i].raw = raw
		} else {
			p.kvs = append(p.kvs, keyVal{key: key, raw: raw})
			e.to++
		}
		if !slices.Contains(p.cols, key) {
			p.cols = append(p.cols, key)
		}
		if !l.more('}') {
			return l.err == nil
		}
	}
}

// rows turns the entity objects into sorted columns and text values, as
// entityRows does for the other parsers.
func (p *nativeParser) rows() ([]string, [][]string, error) {
	var probs problems
	slices.Sort(p.unknown)
	for _, k := range p.unknown {
		probs.add("unknown join key %q", clipStr(k))
	}
	if err := probs.err(BadRequest, "bad_entities"); err != nil {
		return nil, nil, err
	}
	slices.Sort(p.cols)
	keys := p.cols
	types := make([]Scalar, len(keys))
	for k, name := range keys {
		types[k] = p.s.reg.keyTypes[name]
	}
	// Every value in one string: the rows may outlive the body (an http
	// view's fill goes on for later requests) and must not alias it.
	var text []byte
	ends := make([]int, 0, len(p.ents)*len(keys))
	for i, e := range p.ents {
		kvs := p.kvs[e.from:e.to]
		for k, name := range keys {
			j := slices.IndexFunc(kvs, func(kv keyVal) bool { return kv.key == name })
			if j < 0 {
				probs.add("entities[%d]: missing %q", i, name)
			} else if t, ok := appendKeyText(text, types[k], kvs[j].raw); ok {
				text = t
			} else {
				probs.add("entities[%d].%s: %v", i, name, keyTypeError(types[k], kvs[j].raw))
			}
			ends = append(ends, len(text))
		}
		if len(probs) > 20 {
			break
		}
	}
	if err := probs.err(BadRequest, "bad_entities"); err != nil {
		return nil, nil, err
	}
	all := string(text)
	cells := make([]string, len(ends))
	prev := 0
	for c, end := range ends {
		cells[c] = all[prev:end]
		prev = end
	}
	rows := make([][]string, len(p.ents))
	for i := range rows {
		rows[i] = cells[i*len(keys) : (i+1)*len(keys) : (i+1)*len(keys)]
	}
	return keys, rows, nil
}

// appendKeyText appends the text form of a join key's JSON value, as
// keyText returns it; false: the value is not of type t.
func appendKeyText(dst []byte, t Scalar, raw []byte) ([]byte, bool) {
	if t == Int64 {
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil || numberLen(raw) != len(raw) {
			return dst, false
		}
		return strconv.AppendInt(dst, n, 10), true
	}
	l := jsonLex{b: raw}
	s, ok := l.str()
	if !ok || !l.end() {
		return dst, false
	}
	return append(dst, s...), true
}

func keyTypeError(t Scalar, raw []byte) error {
	_, err := keyText(t, raw)
	return err
}
