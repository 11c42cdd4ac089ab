// Package yamlconf decodes configuration files strictly.
//
// Unknown fields are errors that name their path (routes[2].cache.tll) rather
// than a line only; ${VAR} and ${VAR:-default} in scalar values are expanded
// after parsing, so a secret with YAML syntax in it cannot change the
// document's structure; type errors are reported with the path of the field.
//
// It knows nothing of Tiercel's own config types: each package owns its
// config struct and its validation.
package yamlconf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Lookup resolves a variable name for ${VAR} expansion, like os.LookupEnv.
type Lookup func(name string) (string, bool)

// Decode parses data into dst (a pointer to a struct) strictly.
func Decode(data []byte, dst any, lookup Lookup) error {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // empty file: all defaults
		}
		return fmt.Errorf("cannot parse YAML: %w", err)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	lines := map[int]linePath{}
	if err := walk(root, reflect.TypeOf(dst).Elem(), "", lookup, lines); err != nil {
		return err
	}
	if err := root.Decode(dst); err != nil {
		return pathify(err, lines)
	}
	return nil
}

var varRE = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// walk expands variables in scalars and checks every mapping key against the
// struct field it lands in; lines records which path each line holds, to turn
// yaml's line-numbered type errors into path errors.
func walk(n *yaml.Node, t reflect.Type, path string, lookup Lookup, lines map[int]linePath) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	// A line's first scalar names it: yaml reports type errors by line, and on
	// a flow line like `cache: {ttl: soon}` the scalar is the culprit.
	if p, ok := lines[n.Line]; path != "" && (!ok || (n.Kind == yaml.ScalarNode && !p.scalar)) {
		lines[n.Line] = linePath{path, n.Kind == yaml.ScalarNode}
	}
	switch n.Kind {
	case yaml.AliasNode:
		return fmt.Errorf("%s: YAML aliases are not supported in config", orRoot(path))
	case yaml.ScalarNode:
		if err := expand(n, path, lookup); err != nil {
			return err
		}
		return durationScalar(n, t, path)
	case yaml.SequenceNode:
		if t.Kind() != reflect.Slice && t.Kind() != reflect.Array {
			if t.Kind() == reflect.Interface {
				return nil
			}
			return fmt.Errorf("%s: expected %s, got a list", orRoot(path), kindName(t))
		}
		for i, c := range n.Content {
			if err := walk(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), lookup, lines); err != nil {
				return err
			}
		}
	case yaml.MappingNode:
		switch t.Kind() {
		case reflect.Map:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i].Value
				if err := walk(n.Content[i+1], t.Elem(), join(path, k), lookup, lines); err != nil {
					return err
				}
			}
		case reflect.Struct:
			fields := structFields(t)
			seen := map[string]bool{}
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i].Value
				ft, ok := fields[k]
				if !ok {
					return fmt.Errorf("%s: unknown field (line %d)%s", join(path, k), n.Content[i].Line, suggest(k, fields))
				}
				if seen[k] {
					return fmt.Errorf("%s: set twice (line %d)", join(path, k), n.Content[i].Line)
				}
				seen[k] = true
				if err := walk(n.Content[i+1], ft, join(path, k), lookup, lines); err != nil {
					return err
				}
			}
		case reflect.Interface:
			return nil
		default:
			return fmt.Errorf("%s: expected %s, got a mapping", orRoot(path), kindName(t))
		}
	}
	return nil
}

var durationType = reflect.TypeOf(time.Duration(0))

// durationScalar lets a duration be written 0 (yaml reads it as an int,
// which it will not put in a time.Duration), and explains any other bare
// number: a unit is required, since 30 could mean seconds or nanoseconds.
func durationScalar(n *yaml.Node, t reflect.Type, path string) error {
	if t != durationType || n.Style != 0 {
		return nil
	}
	v := strings.TrimSpace(n.Value)
	if _, err := strconv.ParseInt(v, 10, 64); err != nil {
		return nil
	}
	if v == "0" || v == "+0" || v == "-0" {
		n.Value, n.Tag = "0s", "!!str"
		return nil
	}
	return fmt.Errorf("%s: %s is not a duration: give it a unit (%ss, %sms, ...)", orRoot(path), v, v, v)
}

func expand(n *yaml.Node, path string, lookup Lookup) error {
	if !strings.Contains(n.Value, "$") {
		return nil
	}
	var missing string
	out := varRE.ReplaceAllStringFunc(n.Value, func(m string) string {
		if m == "$$" {
			return "$"
		}
		sub := varRE.FindStringSubmatch(m)
		if v, ok := lookup(sub[1]); ok && v != "" {
			return v
		}
		if sub[2] != "" {
			return sub[3]
		}
		if missing == "" {
			missing = sub[1]
		}
		return ""
	})
	if missing != "" {
		return fmt.Errorf("%s: environment variable %s is not set", orRoot(path), missing)
	}
	n.Value = out
	if n.Style == 0 {
		// A plain ${VAR} resolves like the text it stands for: a number
		// for an int field. Quoted values stay strings.
		n.Tag = ""
	}
	return nil
}

// structFields maps yaml names to field types the way yaml.v3 does: the tag's
// name, or the lowercased field name; ",inline" structs are flattened.
func structFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(opts, "inline") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			for k, v := range structFields(ft) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

func suggest(k string, fields map[string]reflect.Type) string {
	best, bestD := "", 3
	for name := range fields {
		if d := distance(k, name); d < bestD || (d == bestD && best != "" && name < best) {
			best, bestD = name, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

// distance is the Levenshtein distance, for "did you mean" hints.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

type linePath struct {
	path   string
	scalar bool
}

var lineRE = regexp.MustCompile(`line (\d+): (.*)`)

// pathify rewrites yaml.TypeError's "line N: reason" entries as "path: reason".
func pathify(err error, lines map[int]linePath) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return fmt.Errorf("cannot decode config: %w", err)
	}
	msgs := make([]string, 0, len(te.Errors))
	for _, e := range te.Errors {
		m := lineRE.FindStringSubmatch(e)
		if m == nil {
			msgs = append(msgs, e)
			continue
		}
		ln, _ := strconv.Atoi(m[1])
		if p, ok := lines[ln]; ok {
			msgs = append(msgs, fmt.Sprintf("%s: %s (line %d)", p.path, m[2], ln))
		} else {
			msgs = append(msgs, e)
		}
	}
	return errors.New(strings.Join(msgs, "; "))
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func orRoot(path string) string {
	if path == "" {
		return "(root)"
	}
	return path
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "a mapping"
	case reflect.Slice, reflect.Array:
		return "a list"
	default:
		return "a " + t.Kind().String()
	}
}
