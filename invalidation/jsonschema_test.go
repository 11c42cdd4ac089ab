package invalidation

import (
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"time"
	"unicode/utf8"
)

// A JSON Schema (2020-12) validator for exactly the keywords
// schema/event.v1.json uses: enough to keep the schema and Parse in sync
// without a new module dependency. A keyword it does not know fails the
// test, so the schema cannot quietly grow rules nothing checks.

type schemaValidator struct {
	root map[string]any
}

func newSchemaValidator(data []byte) (*schemaValidator, error) {
	var root map[string]any
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	if err := dec.Decode(&root); err != nil {
		return nil, fmt.Errorf("cannot parse schema: %w", err)
	}
	return &schemaValidator{root: root}, nil
}

// validate returns the first violation, or nil.
func (v *schemaValidator) validate(doc []byte) error {
	var inst any
	dec := json.NewDecoder(strings.NewReader(string(doc)))
	dec.UseNumber()
	if err := dec.Decode(&inst); err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	if dec.More() {
		return fmt.Errorf("not one JSON value")
	}
	return v.check(v.root, inst, "$")
}

var annotations = map[string]bool{"$schema": true, "$id": true, "title": true, "description": true, "$defs": true}

func (v *schemaValidator) check(s map[string]any, inst any, path string) error {
	for kw, arg := range s {
		if annotations[kw] || kw == "then" || kw == "else" {
			continue
		}
		if err := v.keyword(s, kw, arg, inst, path); err != nil {
			return err
		}
	}
	return nil
}

func (v *schemaValidator) keyword(s map[string]any, kw string, arg, inst any, path string) error {
	obj, isObj := inst.(map[string]any)
	arr, isArr := inst.([]any)
	str, isStr := inst.(string)
	num, isNum := inst.(json.Number)
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%s: %s: %s", path, kw, fmt.Sprintf(format, args...))
	}
	switch kw {
	case "$ref":
		ref, _ := arg.(string)
		name, ok := strings.CutPrefix(ref, "#/$defs/")
		sub, _ := v.root["$defs"].(map[string]any)[name].(map[string]any)
		if !ok || sub == nil {
			return fail("unsupported ref %q", ref)
		}
		return v.check(sub, inst, path)
	case "type":
		types, ok := arg.([]any)
		if !ok {
			types = []any{arg}
		}
		for _, t := range types {
			if typeOf(inst, t.(string)) {
				return nil
			}
		}
		return fail("want %v, got %T", arg, inst)
	case "const":
		if !jsonEqual(arg, inst) {
			return fail("want %v", arg)
		}
	case "enum":
		for _, e := range arg.([]any) {
			if jsonEqual(e, inst) {
				return nil
			}
		}
		return fail("%v not in %v", inst, arg)
	case "properties":
		for name, sub := range arg.(map[string]any) {
			if val, ok := obj[name]; isObj && ok {
				if err := v.check(sub.(map[string]any), val, path+"."+name); err != nil {
					return err
				}
			}
		}
	case "additionalProperties":
		props, _ := s["properties"].(map[string]any)
		for name, val := range obj {
			if _, ok := props[name]; ok {
				continue
			}
			switch a := arg.(type) {
			case bool:
				if !a {
					return fail("%q not allowed", name)
				}
			case map[string]any:
				if err := v.check(a, val, path+"."+name); err != nil {
					return err
				}
			}
		}
	case "propertyNames":
		for name := range obj {
			if err := v.check(arg.(map[string]any), name, path+"."+name+"(name)"); err != nil {
				return err
			}
		}
	case "required":
		for _, r := range arg.([]any) {
			if _, ok := obj[r.(string)]; isObj && !ok {
				return fail("%q missing", r)
			}
		}
	case "minProperties", "maxProperties", "minItems", "maxItems", "minLength", "maxLength":
		n := -1
		switch {
		case isObj && strings.HasSuffix(kw, "Properties"):
			n = len(obj)
		case isArr && strings.HasSuffix(kw, "Items"):
			n = len(arr)
		case isStr && strings.HasSuffix(kw, "Length"):
			n = utf8.RuneCountInString(str)
		}
		limit, _ := arg.(json.Number).Int64()
		if n >= 0 && ((strings.HasPrefix(kw, "min") && int64(n) < limit) || (strings.HasPrefix(kw, "max") && int64(n) > limit)) {
			return fail("%d, limit %d", n, limit)
		}
	case "minimum", "maximum":
		if !isNum {
			return nil
		}
		c := bigNum(num).Cmp(bigNum(arg.(json.Number)))
		if (kw == "minimum" && c < 0) || (kw == "maximum" && c > 0) {
			return fail("%s beyond %s", num, arg)
		}
	case "items":
		for i, item := range arr {
			if err := v.check(arg.(map[string]any), item, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case "format":
		if arg != "date-time" {
			return fail("unsupported format %v", arg)
		}
		if _, err := time.Parse(time.RFC3339Nano, str); isStr && err != nil {
			return fail("%q is not a date-time", str)
		}
	case "anyOf":
		for _, sub := range arg.([]any) {
			if v.check(sub.(map[string]any), inst, path) == nil {
				return nil
			}
		}
		return fail("no alternative matches")
	case "not":
		if v.check(arg.(map[string]any), inst, path) == nil {
			return fail("must not match %v", arg)
		}
	case "if":
		branch := "else"
		if v.check(arg.(map[string]any), inst, path) == nil {
			branch = "then"
		}
		if sub, ok := s[branch].(map[string]any); ok {
			return v.check(sub, inst, path)
		}
	default:
		return fail("keyword not supported by the test validator")
	}
	return nil
}

func typeOf(inst any, t string) bool {
	switch t {
	case "object":
		_, ok := inst.(map[string]any)
		return ok
	case "array":
		_, ok := inst.([]any)
		return ok
	case "string":
		_, ok := inst.(string)
		return ok
	case "boolean":
		_, ok := inst.(bool)
		return ok
	case "null":
		return inst == nil
	case "number":
		_, ok := inst.(json.Number)
		return ok
	case "integer":
		n, ok := inst.(json.Number)
		return ok && bigNum(n).IsInt()
	}
	panic("unknown type " + t)
}

func bigNum(n json.Number) *big.Float {
	f, _, err := big.ParseFloat(n.String(), 10, 256, big.ToNearestEven)
	if err != nil {
		panic(err)
	}
	return f
}

func jsonEqual(a, b any) bool {
	if na, ok := a.(json.Number); ok {
		nb, ok := b.(json.Number)
		return ok && bigNum(na).Cmp(bigNum(nb)) == 0
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
