// Package router matches request paths against route patterns such as
// /api/products/{id} or /static/{path...}.
//
// It is a segment trie: static segments win over parameters, parameters over
// a trailing catch-all, with backtracking, so the most specific pattern always
// answers. Matching allocates nothing: parameter values are sub-slices of the
// request path written into a caller-owned Params.
//
// It must never keep a reference to the path it was given after Match returns
// (the caller's buffer is reused by fasthttp) and knows nothing of HTTP
// servers.
package router

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// MaxParams bounds the parameters of one pattern, so Params is a fixed array.
const MaxParams = 8

// ErrNotFound: no pattern matches the path.
var ErrNotFound = errors.New("no route matches the path")

// ErrMethodNotAllowed: a pattern matches the path but not for this method.
var ErrMethodNotAllowed = errors.New("method not allowed")

// Router maps (method, path) to a route index.
type Router struct {
	root node
}

type node struct {
	static   map[string]*node
	param    *node
	catchAll *node

	// names of the parameters bound on the way to this node; set on nodes
	// that end a pattern.
	names []string
	// routes by method; "*" matches any method. A node has a handful, and
	// scanning them is cheaper than a map lookup with a string key.
	methods []methodRoute
	// allow is the sorted, comma-separated method list for a 405's Allow header.
	allow string
}

// Add registers pattern for method with the caller's route index.
func (r *Router) Add(method, pattern string, index int) error {
	if !strings.HasPrefix(pattern, "/") {
		return fmt.Errorf("pattern %q: must start with /", pattern)
	}
	n := &r.root
	var names []string
	segs := split(pattern)
	for i, seg := range segs {
		switch {
		case strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "...}"):
			if i != len(segs)-1 {
				return fmt.Errorf("pattern %q: a catch-all {name...} must be the last segment", pattern)
			}
			name := seg[1 : len(seg)-4]
			if err := checkName(pattern, name, names); err != nil {
				return err
			}
			names = append(names, name)
			if n.catchAll == nil {
				n.catchAll = &node{}
			}
			n = n.catchAll
		case strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}"):
			name := seg[1 : len(seg)-1]
			if err := checkName(pattern, name, names); err != nil {
				return err
			}
			names = append(names, name)
			if n.param == nil {
				n.param = &node{}
			}
			n = n.param
		case strings.ContainsAny(seg, "{}"):
			return fmt.Errorf("pattern %q: segment %q mixes text and a parameter", pattern, seg)
		default:
			if n.static == nil {
				n.static = map[string]*node{}
			}
			child := n.static[seg]
			if child == nil {
				child = &node{}
				n.static[seg] = child
			}
			n = child
		}
	}
	if len(names) > MaxParams {
		return fmt.Errorf("pattern %q: more than %d parameters", pattern, MaxParams)
	}
	if n.methods != nil && n.names != nil && strings.Join(n.names, ",") != strings.Join(names, ",") {
		return fmt.Errorf("pattern %q: parameter names differ from an earlier pattern on the same path", pattern)
	}
	for _, m := range n.methods {
		if m.method == method {
			return fmt.Errorf("pattern %q: method %s registered twice", pattern, method)
		}
	}
	n.names = names
	n.methods = append(n.methods, methodRoute{method, index})
	n.allow = allowList(n.methods)
	return nil
}

type methodRoute struct {
	method string
	index  int
}

// route returns the route index for method: its own pattern, else a "*"
// one.
func (n *node) route(method []byte) (int, bool) {
	anyIndex, found := 0, false
	for _, m := range n.methods {
		switch m.method {
		case string(method):
			return m.index, true
		case "*":
			anyIndex, found = m.index, true
		}
	}
	return anyIndex, found
}

func checkName(pattern, name string, seen []string) error {
	if name == "" || strings.ContainsAny(name, "{}/.") {
		return fmt.Errorf("pattern %q: bad parameter name %q", pattern, name)
	}
	for _, s := range seen {
		if s == name {
			return fmt.Errorf("pattern %q: parameter %q used twice", pattern, name)
		}
	}
	return nil
}

func split(pattern string) []string {
	p := strings.Trim(pattern, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// Params holds the parameters of one match. Values alias the matched path.
type Params struct {
	names  []string
	values [MaxParams][]byte
	n      int
}

// Len is the number of parameters.
func (p *Params) Len() int { return p.n }

// Name is the i-th parameter's name.
func (p *Params) Name(i int) string { return p.names[i] }

// Value is the i-th parameter's value (an alias of the path).
func (p *Params) Value(i int) []byte { return p.values[i] }

// Get returns the named parameter's value, or nil.
func (p *Params) Get(name string) []byte {
	for i := 0; i < p.n; i++ {
		if p.names[i] == name {
			return p.values[i]
		}
	}
	return nil
}

// Reset clears p for reuse.
func (p *Params) Reset() {
	p.names = nil
	p.n = 0
}

// Match finds the route for method and path. On ErrMethodNotAllowed, allow
// lists the methods the path does accept. Like net/http's ServeMux, the
// method takes part in matching: PUT /a/static falls through to /a/{x} when
// only /a/{x} accepts PUT.
func (r *Router) Match(method, path []byte, p *Params) (index int, allow string, err error) {
	p.n = 0
	if len(path) == 0 || path[0] != '/' {
		return -1, "", ErrNotFound
	}
	if n := r.root.match(path[1:], method, p); n != nil {
		p.names = n.names
		i, _ := n.route(method)
		return i, "", nil
	}
	// No pattern takes this method: tell 405 from 404 with a second walk that
	// accepts any method. Only failing requests pay for it.
	p.n = 0
	if n := r.root.match(path[1:], nil, p); n != nil {
		p.n = 0
		return -1, n.allow, ErrMethodNotAllowed
	}
	p.n = 0
	return -1, "", ErrNotFound
}

// accepts reports whether a pattern ends at n for method (nil: any method).
func (n *node) accepts(method []byte) bool {
	if n.methods == nil {
		return false
	}
	if method == nil {
		return true
	}
	_, ok := n.route(method)
	return ok
}

// match walks rest (the path after a '/'), static first, then parameter, then
// catch-all, backtracking when a branch dead-ends.
func (n *node) match(rest, method []byte, p *Params) *node {
	if len(rest) == 0 {
		if n.accepts(method) {
			return n
		}
		// "/prefix/" ends here too; a catch-all may take an empty rest.
		if n.catchAll != nil && n.catchAll.accepts(method) && p.n < MaxParams {
			p.values[p.n] = rest
			p.n++
			return n.catchAll
		}
		return nil
	}
	seg, tail, last := cut(rest)
	if child := n.static[string(seg)]; child != nil {
		if m := child.next(tail, last, method, p); m != nil {
			return m
		}
	}
	if n.param != nil && len(seg) > 0 && p.n < MaxParams {
		saved := p.n
		p.values[p.n] = seg
		p.n++
		if m := n.param.next(tail, last, method, p); m != nil {
			return m
		}
		p.n = saved
	}
	if n.catchAll != nil && n.catchAll.accepts(method) && p.n < MaxParams {
		p.values[p.n] = rest
		p.n++
		return n.catchAll
	}
	return nil
}

func (n *node) next(tail []byte, last bool, method []byte, p *Params) *node {
	if last {
		if n.accepts(method) {
			return n
		}
		return nil
	}
	return n.match(tail, method, p)
}

// cut splits off the first segment; last reports that no '/' followed it.
func cut(rest []byte) (seg, tail []byte, last bool) {
	for i, c := range rest {
		if c == '/' {
			return rest[:i], rest[i+1:], false
		}
	}
	return rest, nil, true
}

func allowList(methods []methodRoute) string {
	var ms []string
	for _, m := range methods {
		if m.method == "*" {
			return "*"
		}
		ms = append(ms, m.method)
	}
	slices.Sort(ms) // stable order for the Allow header
	return strings.Join(ms, ", ")
}
