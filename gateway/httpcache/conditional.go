package httpcache

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// Conditional requests answered from the cache (RFC 9111 §4.3.2, RFC 9110
// §13): a client revalidating its own copy with If-None-Match or
// If-Modified-Since gets 304 Not Modified instead of the body when the
// stored response's validator matches. The conditions are never part of the
// cache key and never forwarded on a fill (a fill is built from the keyed
// parts only), so they decide the status of this one answer and nothing
// that is stored or served to anyone else.
//
// If-Match and If-Unmodified-Since are not evaluated: they guard writes,
// and a cache only answers GET and HEAD.

// Header names for PeekCanonical: Peek normalises the name on every call.
// Stored response headers are named as fasthttp's parser spells them
// when it reads the upstream's answer.
var (
	reqIfNoneMatch     = []byte(headerIfNoneMatch)
	reqIfModifiedSince = []byte(headerIfModifiedSince)
	hdrETag            = []byte("Etag")
	hdrLastModified    = []byte("Last-Modified")
	// Representation metadata a 304 should not carry (RFC 9110 §15.4.5);
	// Content-Type is fasthttp's own field.
	hdrContentEncoding = []byte(fasthttp.HeaderContentEncoding)
	hdrContentLanguage = []byte(fasthttp.HeaderContentLanguage)
)

const (
	headerIfNoneMatch     = "If-None-Match"
	headerIfModifiedSince = "If-Modified-Since"
)

// NotModified reports whether the request's validators match the stored
// response written into resp (status 2xx only). If-None-Match, when sent,
// decides alone; If-Modified-Since is read only without it, and ignored
// unless it is one valid HTTP-date.
func NotModified(req *fasthttp.RequestHeader, resp *fasthttp.ResponseHeader) bool {
	if s := resp.StatusCode(); s < 200 || s > 299 {
		return false
	}
	if inm := req.PeekCanonical(reqIfNoneMatch); len(inm) > 0 {
		// Every field line is a part of the one list (RFC 9110 §5.3).
		etag := resp.PeekCanonical(hdrETag)
		for _, l := range req.PeekAll(headerIfNoneMatch) {
			if etagListMatches(l, etag) {
				return true
			}
		}
		return false
	}
	ims := req.PeekCanonical(reqIfModifiedSince)
	if len(ims) == 0 {
		return false
	}
	if len(req.PeekAll(headerIfModifiedSince)) != 1 {
		return false // more than one member: ignored (RFC 9110 §13.1.3)
	}
	lm := resp.PeekCanonical(hdrLastModified)
	if len(lm) == 0 {
		return false
	}
	since, err := fasthttp.ParseHTTPDate(ims)
	if err != nil {
		return false
	}
	modified, err := fasthttp.ParseHTTPDate(lm)
	return err == nil && !modified.After(since)
}

// WriteNotModified turns the stored response in resp into its 304: no body
// and no representation metadata, validators and caching fields kept.
func WriteNotModified(resp *fasthttp.Response) {
	resp.SetStatusCode(fasthttp.StatusNotModified)
	resp.ResetBody()
	resp.Header.SetContentTypeBytes(nil)
	resp.Header.SetNoDefaultContentType(true)
	resp.Header.DelBytes(hdrContentEncoding)
	resp.Header.DelBytes(hdrContentLanguage)
}

// etagListMatches reports whether an If-None-Match value matches etag by
// weak comparison (RFC 9110 §8.8.3.2: the opaque tags are equal, "W/"
// aside). "*" matches any stored response, with or without an ETag. The
// list is parsed, not split on commas: a comma is a valid etag character.
// A malformed member ends the list (what came before it still counts).
func etagListMatches(list, etag []byte) bool {
	list = bytes.TrimSpace(list)
	if len(list) == 1 && list[0] == '*' {
		return true
	}
	want, ok := opaqueTag(etag)
	if !ok {
		return false
	}
	for len(list) > 0 {
		switch list[0] {
		case ' ', '\t', ',':
			list = list[1:]
			continue
		}
		tag, rest, ok := nextETag(list)
		if !ok {
			return false
		}
		if bytes.Equal(tag, want) {
			return true
		}
		list = rest
	}
	return false
}

// opaqueTag is an entity-tag without its weakness prefix, quotes included.
func opaqueTag(etag []byte) ([]byte, bool) {
	tag, rest, ok := nextETag(bytes.TrimSpace(etag))
	return tag, ok && len(rest) == 0
}

// nextETag reads one entity-tag ([W/]"...") from the start of b.
func nextETag(b []byte) (tag, rest []byte, ok bool) {
	if len(b) >= 2 && b[0] == 'W' && b[1] == '/' {
		b = b[2:]
	}
	if len(b) < 2 || b[0] != '"' {
		return nil, nil, false
	}
	end := bytes.IndexByte(b[1:], '"')
	if end < 0 {
		return nil, nil, false
	}
	return b[:end+2], b[end+2:], true
}
