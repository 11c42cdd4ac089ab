package features

import (
	"bytes"
	"encoding/json"
)

// feastRequest is Feast's POST /get-online-features body as encoding/json
// decodes it: feastParser accepts what this decode accepts, and its
// errors are worded by it (feastBadJSON).
type feastRequest struct {
	Features         []string        `json:"features"`
	FeatureService   *string         `json:"feature_service"`
	Entities         json.RawMessage `json:"entities"`
	FullFeatureNames bool            `json:"full_feature_names"`
	// Accepted for compatibility; Tiercel has no on-demand views.
	RequestContext json.RawMessage `json:"request_context"`
}

// feastParser reads the top of a Feast body by hand: the same language as
// encoding/json decoding into feastRequest with unknown fields allowed
// (field names matched case-insensitively, a repeated field: the last
// wins, null leaves a bool as it was), without reflection. Its features
// list was most of the allocations of a 100×50 read (one string per ref):
// known refs come back as the registry's own strings. FuzzParseFeast
// holds it to encoding/json.
type feastParser struct {
	s        *Store
	lex      jsonLex
	refs     []string
	service  *string
	entities []byte // a slice of the body, as json.RawMessage would be
	full     bool
}

// parse reads body into p; a JSON or type error is answered as
// encoding/json words it.
func (p *feastParser) parse(body []byte) error {
	p.lex = jsonLex{b: body}
	if !p.top() || !p.lex.end() || p.lex.err != nil {
		return feastBadJSON(body, p.lex.err)
	}
	return nil
}

// feastBadJSON is the error for a body the hand parser refused: the one
// encoding/json gives, since its text reaches the client (the 422's
// ctx.error) and was there before the hand parser. Refusals are rare, so
// decoding twice costs nothing that matters.
func feastBadJSON(body []byte, err error) error {
	var req feastRequest
	if err2 := decodeStrict(body, &req, true); err2 != nil {
		return err2
	}
	if err == nil {
		err = errSyntax // BUG guard: every failure names itself
	}
	return badJSON(err) // the two disagree: FuzzParseFeast says how
}

func (p *feastParser) top() bool {
	l := &p.lex
	switch l.peek() {
	case 'n':
		return l.literal("null")
	case '{':
	default:
		return l.fail("want an object")
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
		case bytes.EqualFold(name, []byte("feature_service")):
			ok = p.featureService()
		case bytes.EqualFold(name, []byte("entities")):
			p.entities, ok = l.skipIn(1)
		case bytes.EqualFold(name, []byte("full_feature_names")):
			ok = p.fullFeatureNames()
		default: // request_context, and fields Tiercel has no use for
			_, ok = l.skipIn(1)
		}
		if !ok {
			return false
		}
		if !l.more('}') {
			return l.err == nil
		}
	}
}

func (p *feastParser) features() bool {
	l := &p.lex
	switch l.peek() {
	case 'n':
		p.refs = nil
		return l.literal("null")
	case '[':
	default:
		return l.fail("features: want a list of strings")
	}
	empty, ok := l.open('[', ']')
	if !ok {
		return false
	}
	if empty {
		p.refs = []string{}
		return true
	}
	for i := 0; ; i++ {
		// encoding/json decodes a repeated field into the slice the
		// earlier one left, growing it as append does: a null element
		// keeps whatever that slice held at i.
		if i < cap(p.refs) {
			p.refs = p.refs[:i+1]
		} else {
			p.refs = append(p.refs[:i], "")
		}
		switch l.peek() {
		case 'n':
			if !l.literal("null") {
				return false
			}
		case '"':
			ref, ok := l.str()
			if !ok {
				return false
			}
			// A known ref costs no allocation: the registry has its string.
			canon, known := p.s.reg.refNames[string(ref)]
			if !known {
				canon = string(ref)
			}
			p.refs[i] = canon
		default:
			return l.fail("features: want a list of strings")
		}
		if !l.more(']') {
			return l.err == nil
		}
	}
}

func (p *feastParser) featureService() bool {
	l := &p.lex
	switch l.peek() {
	case 'n':
		p.service = nil
		return l.literal("null")
	case '"':
		b, ok := l.str()
		if !ok {
			return false
		}
		svc := string(b)
		p.service = &svc
		return true
	}
	return l.fail("feature_service: want a string")
}

func (p *feastParser) fullFeatureNames() bool {
	l := &p.lex
	switch l.peek() {
	case 'n': // null leaves a bool as it was
		return l.literal("null")
	case 't':
		p.full = true
		return l.literal("true")
	case 'f':
		p.full = false
		return l.literal("false")
	}
	return l.fail("full_feature_names: want a boolean")
}
