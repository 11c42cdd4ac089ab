package httpcache

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/valyala/bytebufferpool"
	"github.com/valyala/fasthttp"
)

// A stored response, the form a cache entry's Value holds:
//
//	format u8 | status u16 | header count u16 | (name len u16, name, value len u32, value)* | body
//
// Only end-to-end headers the origin chose are kept: hop-by-hop headers
// (upstream.Pool.Do has already dropped them and those the origin's
// Connection named; the standard set is skipped here again), per-request
// ones (Age, X-Request-ID, RateLimit-*) and Set-Cookie never are. The
// origin's Date is kept: a cache passes it on (RFC 9110 §6.6.1).
const respFormat = 1

// ErrBadStored: bytes that are not a response in the stored form.
var ErrBadStored = errors.New("cannot decode stored response")

// skipStored lists response headers never stored (lowercase).
var skipStored = map[string]bool{
	"connection": true, "keep-alive": true, "proxy-connection": true, "proxy-authenticate": true, "proxy-authorization": true,
	"te": true, "trailer": true, "transfer-encoding": true, "upgrade": true, "content-length": true,
	"server": true, "age": true, "set-cookie": true, "x-request-id": true,
	"x-cache": true, "cache-status": true, "server-timing": true,
	"ratelimit-limit": true, "ratelimit-remaining": true, "ratelimit-reset": true, "retry-after": true,
}

// EncodeResponse appends resp in the stored form. Repeated header fields
// are joined into one comma-separated value (RFC 9110 §5.3; Set-Cookie, the
// exception, is never stored), except Date, a singleton whose repeats
// Freshness already judged: one value is kept. The origin's
// Date is kept; when it sent none or an invalid one, f.Date (the time it
// arrived) is stored in its place. Age is not: it is computed when the
// entry is served (RFC 9111 §4.2.3).
func EncodeResponse(dst []byte, resp *fasthttp.Response, f Freshness) []byte {
	type field struct{ k, v []byte }
	var fields []field
	var lower [64]byte
	if f.Synthesized {
		fields = append(fields, field{[]byte(fasthttp.HeaderDate), f.Date.UTC().AppendFormat(nil, http.TimeFormat)})
	}
	for k, v := range resp.Header.All() {
		if len(k) <= len(lower) && skipStored[string(toLower(lower[:0], k))] {
			continue
		}
		date := len(k) == 4 && bytes.EqualFold(k, []byte(fasthttp.HeaderDate))
		if f.Synthesized && date {
			continue // invalid: replaced above
		}
		merged := false
		for i := range fields {
			if bytes.EqualFold(fields[i].k, k) {
				if !date { // "d, d" would be no date at all
					fields[i].v = append(append(fields[i].v, ", "...), v...)
				}
				merged = true
				break
			}
		}
		if !merged {
			fields = append(fields, field{append([]byte(nil), k...), append([]byte(nil), v...)})
		}
	}
	dst = append(dst, respFormat)
	dst = binary.BigEndian.AppendUint16(dst, uint16(resp.StatusCode()))
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(fields)))
	for _, f := range fields {
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(f.k)))
		dst = append(dst, f.k...)
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(f.v)))
		dst = append(dst, f.v...)
	}
	return append(dst, resp.Body()...)
}

func toLower(dst, b []byte) []byte {
	for _, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// Stored is a stored response decoded for serving. Its header is
// parsed once, the way fasthttp parses an upstream's answer, and copied
// into each response it answers: fasthttp's header setters drop a Date
// (it writes its own), its parser keeps one, so this is how the origin's
// Date reaches the client unchanged (RFC 9110 §6.6.1). Read-only once
// made; many responses copy it at once.
type Stored struct {
	header fasthttp.ResponseHeader
	body   []byte
}

// DecodeStored decodes v, a response in the stored form.
func DecodeStored(v []byte) (*Stored, error) {
	if len(v) < 5 || v[0] != respFormat {
		return nil, ErrBadStored
	}
	status := int(binary.BigEndian.Uint16(v[1:]))
	n := int(binary.BigEndian.Uint16(v[3:]))
	v = v[5:]
	if status < 100 || status > 999 {
		return nil, ErrBadStored
	}
	buf := headerTexts.Get()
	defer headerTexts.Put(buf)
	text := appendStatusLine(buf.B[:0], status)
	hasDate := false
	for range n {
		if len(v) < 2 {
			return nil, ErrBadStored
		}
		kl := int(binary.BigEndian.Uint16(v))
		if len(v) < 2+kl+4 {
			return nil, ErrBadStored
		}
		k := v[2 : 2+kl]
		vl := int(binary.BigEndian.Uint32(v[2+kl:]))
		v = v[2+kl+4:]
		if len(v) < vl || !validField(k, v[:vl]) {
			return nil, ErrBadStored
		}
		hasDate = hasDate || bytes.EqualFold(k, []byte(fasthttp.HeaderDate))
		text = appendFieldLine(text, k, v[:vl])
		v = v[vl:]
	}
	buf.B = text
	sr := &Stored{body: v}
	if hasDate {
		// The stored Date is the origin's (or when it arrived), to be sent
		// instead of the server's clock: the header must carry fasthttp's
		// "no default Date" flag, which parsing keeps and CopyTo copies.
		dateKeepingHeader().CopyTo(&sr.header)
	}
	if err := parseHead(&sr.header, text, len(sr.body)); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadStored, err)
	}
	return sr, nil
}

// appendStatusLine starts a response head for fasthttp's parser.
func appendStatusLine(dst []byte, status int) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	return append(dst, " -\r\n"...)
}

// appendFieldLine appends one header field line to a response head.
func appendFieldLine(dst, k, v []byte) []byte {
	return append(append(append(append(dst, k...), ": "...), v...), "\r\n"...)
}

// parseHead parses head (a status line and field lines) into h, framed for
// a body of n bytes.
func parseHead(h *fasthttp.ResponseHeader, head []byte, n int) error {
	if err := readHeader(h, append(head, "\r\n"...)); err != nil {
		return err
	}
	frame(h, n)
	return nil
}

// frame gives a parsed stored header its body's length. Parsed without a
// Content-Length, fasthttp reads a response as delimited by the
// connection's close and marks it so: copied into every answer, that
// closed each keep-alive connection after one cached response (a fifth of
// the throughput, found by bench-compare; TestCachedAnswersKeepTheConnection).
func frame(h *fasthttp.ResponseHeader, n int) {
	h.ResetConnectionClose()
	h.SetContentLength(n)
}

// headerTexts and headerReaders are the scratch of readHeader: an L2 hit
// decodes its entry's header once, and a fresh 4 KiB bufio.Reader each
// time cost more than the parse.
var (
	headerTexts   bytebufferpool.Pool
	headerReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}
)

// readHeader parses text, a status line and header fields, into h.
func readHeader(h *fasthttp.ResponseHeader, text []byte) error {
	var src bytes.Reader
	src.Reset(text)
	br := headerReaders.Get().(*bufio.Reader)
	br.Reset(&src)
	err := h.Read(br)
	br.Reset(nil)
	headerReaders.Put(br)
	return err
}

// dateKeeping is an empty response header with fasthttp's "no default
// Date" flag set. fasthttp has no setter for the flag: its server sets it
// on each response from Server.NoDefaultDate, and CopyTo and parsing carry
// it. So it is taken, once, from a response of a server that sets it,
// served over an in-memory pipe. TestCacheKeepsOriginDate fails if a
// fasthttp upgrade changes any of this.
var (
	dateKeepingOnce sync.Once
	dateKeeping     fasthttp.ResponseHeader
)

func dateKeepingHeader() *fasthttp.ResponseHeader {
	dateKeepingOnce.Do(func() {
		srv := &fasthttp.Server{NoDefaultDate: true, Handler: func(ctx *fasthttp.RequestCtx) {
			ctx.Response.Header.CopyTo(&dateKeeping)
		}}
		client, server := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = srv.ServeConn(server)
			_ = server.Close()
		}()
		_, _ = client.Write([]byte("GET / HTTP/1.1\r\nHost: local\r\nConnection: close\r\n\r\n"))
		_, _ = io.Copy(io.Discard, client)
		_ = client.Close()
		<-done
	})
	return &dateKeeping
}

// validField reports whether a stored header can be written back as one
// field line: a token name, a value without line breaks or NUL. Every
// stored field came from a parsed response; this guards against corrupt
// or foreign bytes in L2.
func validField(k, v []byte) bool {
	if len(k) == 0 {
		return false
	}
	for _, c := range k {
		if c <= ' ' || c >= 0x7f || c == ':' {
			return false
		}
	}
	for _, c := range v {
		if c == '\r' || c == '\n' || c == 0 {
			return false
		}
	}
	return true
}

// Updated is the stored response updated by a 304 answering a conditional
// request built from it (RFC 9111 §4.3.4, §3.2): every field the 304
// carries replaces all the stored fields of that name (its Date and
// Cache-Control included, so freshness is computed anew); Content-Length is
// the stored body's. The body is shared, not copied.
func (sr *Stored) Updated(nm *fasthttp.Response) (*fasthttp.Response, error) {
	nm.Header.SetNoDefaultContentType(true) // a 304 carries no representation
	replaced := map[string]bool{}
	var fields [][2][]byte
	for k, v := range nm.Header.All() {
		name := strings.ToLower(string(k))
		if name == "content-length" {
			continue
		}
		replaced[name] = true
		fields = append(fields, [2][]byte{k, v}) // views of nm, unchanged below
	}
	buf := headerTexts.Get()
	defer headerTexts.Put(buf)
	text := appendStatusLine(buf.B[:0], sr.header.StatusCode())
	for k, v := range sr.header.All() {
		if name := strings.ToLower(string(k)); name != "content-length" && !replaced[name] {
			text = appendFieldLine(text, k, v)
		}
	}
	for _, f := range fields {
		text = appendFieldLine(text, f[0], f[1])
	}
	buf.B = text
	out := &fasthttp.Response{}
	if err := parseHead(&out.Header, text, len(sr.body)); err != nil {
		return nil, fmt.Errorf("cannot update a stored response from a 304: %w", err)
	}
	out.SetBodyRaw(sr.body)
	return out, nil
}

// validators are the stored response's ETag and Last-Modified, the
// conditions of a request revalidating it (RFC 9111 §4.3.1).
func (sr *Stored) validators() (etag, lastModified []byte) {
	return sr.header.PeekCanonical(hdrETag), sr.header.PeekCanonical(hdrLastModified)
}

// Revalidatable reports whether sr has a validator (an ETag or a
// Last-Modified): a conditional request can then renew it with a 304
// instead of its body crossing the network again.
func (sr *Stored) Revalidatable() bool {
	etag, lm := sr.validators()
	return len(etag) > 0 || len(lm) > 0
}

// AddConditions makes req a conditional request revalidating sr (RFC 9111
// §4.3.1): If-None-Match with its ETag, If-Modified-Since with its
// Last-Modified, each when sr has it.
func (sr *Stored) AddConditions(req *fasthttp.RequestHeader) {
	etag, lm := sr.validators()
	if len(etag) > 0 {
		req.SetCanonical(reqIfNoneMatch, etag)
	}
	if len(lm) > 0 {
		req.SetCanonical(reqIfModifiedSince, lm)
	}
}

// WriteTo replaces resp's status, headers and body with the stored ones.
// The body is referenced, not copied: entries are immutable. It allocates
// nothing once resp's header buffers have grown.
func (sr *Stored) WriteTo(resp *fasthttp.Response) {
	sr.header.CopyTo(&resp.Header)
	resp.SetBodyRaw(sr.body)
}
