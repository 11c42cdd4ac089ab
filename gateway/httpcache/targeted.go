package httpcache

import (
	"time"

	"github.com/dunglas/httpsfv"
	"github.com/valyala/fasthttp"
)

// Targeted cache-control fields (RFC 9213): a response may carry, next to
// Cache-Control, fields addressed to some caches only (CDN-Cache-Control
// for every CDN, a vendor's own name for one). A cache that knows a list
// of them uses the first one present and valid, and then ignores
// Cache-Control entirely (§2.1): CDN-Cache-Control: max-age=600 stores a
// response whose Cache-Control says no-store for browsers.
//
// Targeted fields are Structured Field Dictionaries (§2.2, RFC 9651),
// parsed by dunglas/httpsfv: lower-case keys, Integer lifetimes, Boolean
// flags. A field that does not parse, or whose known directive has a value
// of the wrong type, is ignored as a whole, and the next one (finally
// Cache-Control) applies.

// targetedDirectives returns the directives of the first of fields that
// h carries validly; ok is false when none does.
func targetedDirectives(h *fasthttp.ResponseHeader, fields []string) (d Directives, name string, ok bool) {
	for _, f := range fields {
		lines := h.PeekAll(f)
		if len(lines) == 0 {
			continue
		}
		vals := make([]string, len(lines))
		for i, l := range lines {
			vals[i] = string(l)
		}
		dict, err := httpsfv.UnmarshalDictionary(vals)
		if err != nil {
			continue
		}
		if d, ok := dictDirectives(dict); ok {
			return d, f, true
		}
	}
	return Directives{}, "", false
}

// dictDirectives maps a targeted field's members to Directives; false when
// a directive this cache knows has a value of the wrong type.
func dictDirectives(dict *httpsfv.Dictionary) (Directives, bool) {
	var d Directives
	for _, name := range dict.Names() {
		m, _ := dict.Get(name)
		it, isItem := m.(httpsfv.Item)
		switch name {
		case "max-age", "s-maxage", "stale-while-revalidate", "stale-if-error":
			n, isInt := it.Value.(int64)
			if !isItem || !isInt || n < 0 {
				return d, false
			}
			v := Delta{Present: true, D: time.Duration(min(n, 1<<31)) * time.Second}
			switch name {
			case "max-age":
				d.MaxAge = v
			case "s-maxage":
				d.SMaxAge = v
			case "stale-while-revalidate":
				d.StaleWhileRevalidate = v
			default:
				d.StaleIfError = v
			}
		case "no-store", "public", "must-revalidate", "proxy-revalidate":
			if b, isBool := it.Value.(bool); !isItem || !isBool || !b {
				return d, false
			}
			switch name {
			case "no-store":
				d.NoStore = true
			case "public":
				d.Public = true
			default:
				d.MustRevalidate = true
			}
		case "no-cache":
			d.NoCache = true // with or without field names: the safe reading
		case "private":
			d.Private = true
		}
	}
	return d, true
}
