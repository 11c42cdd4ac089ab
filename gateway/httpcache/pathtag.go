package httpcache

import "strings"

// The path tag (RFC 9111 §4.4). Every entry a cached route stores carries,
// besides the route's own tags, one tag naming its target URI's path in
// normal form (the path routed and keyed), whatever the route and whatever
// else is keyed: query parameters, keyed headers, the caller on a private
// route. A write through the gateway invalidates it (gateway's
// unsafemethods.go), and with it every keyed variant of the URI, on
// whichever route stored them.
//
// It names the path without the query, so a write to /x?a=1 also drops /x
// and /x?a=2. That is deliberate: a write usually changes the resource
// every variant is a view of, and RFC 9111 §4.4 lets a cache invalidate
// more than the target URI. The price is one more generation read per L2
// lookup, and entries stored before the tag existed read as misses once
// (their tags differ from the request's).

// PathTagPrefix starts every path tag: "{}path:/api/products/42".
//
// No template produces it: a template's literal text never holds a brace
// ("{" opens a parameter, a lone "}" is refused, "{}" is an empty
// parameter name), the gateway's template compiler refuses the prefix with
// its own message, and a parameter whose decoded value would start a tag
// with it is kept percent-encoded (UserTag). An event or an admin call may name a
// path tag on purpose, to invalidate a URI from outside.
//
// The braces are an empty Redis Cluster hash tag, which Redis ignores: the
// tag's generation key is spread over the slots by its whole name. A
// non-empty one ("{path}") would put every path's generation in one slot.
const PathTagPrefix = "{}path:"

// PathTag is the path tag of path, a request path in normal form.
func PathTag(path []byte) string { return PathTagPrefix + string(path) }

// UserTag keeps a rendered user tag out of the path tags' namespace. Only a
// template that starts with a parameter can get there, with a value
// decoded from "%7B%7Dpath:"; its leading brace stays encoded, so the tag
// is still that value's, unambiguously.
func UserTag(tag string) string {
	if strings.HasPrefix(tag, PathTagPrefix) {
		return "%7B" + tag[1:]
	}
	return tag
}
