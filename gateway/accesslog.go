package gateway

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/tiercel/tiercel/internal/jsonstr"
	"github.com/valyala/fasthttp"
)

// accessFormat is log.access_format; accessOff when log.access is false.
type accessFormat uint8

const (
	accessOff accessFormat = iota
	// accessText is a slog record through the process's logger.
	accessText
	// accessJSON and accessCommon are appended into the request's pooled
	// buffer and written with one Write: no slog record, no attribute
	// boxing.
	accessJSON
	accessCommon
)

func parseAccessFormat(c LogConfig) accessFormat {
	if !c.Access {
		return accessOff
	}
	switch c.AccessFormat {
	case "json":
		return accessJSON
	case "common":
		return accessCommon
	}
	return accessText
}

// lineWriter writes whole lines to the access log's writer: one Write per
// line, under a lock, so lines of concurrent requests never interleave
// whatever the writer.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (lw *lineWriter) write(b []byte) {
	lw.mu.Lock()
	_, _ = lw.w.Write(b)
	lw.mu.Unlock()
}

// SetAccessWriter sets where access_format json and common lines go
// (default os.Stderr; text lines go through the logger).
func (s *Server) SetAccessWriter(w io.Writer) {
	s.accessOut.mu.Lock()
	s.accessOut.w = w
	s.accessOut.mu.Unlock()
}

// accessRecord is what one access log line says, read from the request
// before its pooled state is reset.
type accessRecord struct {
	method, path, query, proto []byte
	route, upstream, target    string
	status                     int
	bytesIn, bytesOut          int
	cache                      cacheLabel
	remote                     netip.Addr
	userAgent, referer, id     []byte
}

func (s *generation) accessRecord(ctx *fasthttp.RequestCtx, st *reqState, status int) accessRecord {
	r := accessRecord{method: ctx.Method(), path: st.path, proto: ctx.Request.Header.Protocol(),
		route: "-", target: st.target, status: status, cache: st.cache,
		bytesIn: len(ctx.Request.Body()), bytesOut: responseBytes(&ctx.Response),
		userAgent: ctx.Request.Header.UserAgent(), referer: ctx.Request.Header.Referer(), id: st.id}
	// A target that did not parse was never routed: fasthttp's normalised
	// path, still without the query.
	if r.path == nil {
		r.path = ctx.Path()
	}
	// Off by default: query strings carry tokens, e-mail addresses and
	// signed-URL signatures into files kept longer than any of them.
	if s.accessQuery {
		r.query = st.query
	}
	if st.route >= 0 {
		rt := s.routes[st.route]
		r.route, r.upstream = rt.name, rt.upstreamName
	}
	r.remote, _ = netip.AddrFromSlice(ctx.RemoteIP())
	r.remote = r.remote.Unmap()
	return r
}

// responseBytes is the body length: a streamed body is not read for it,
// its Content-Length is used (0 when unknown).
func responseBytes(resp *fasthttp.Response) int {
	if resp.IsBodyStream() {
		return max(resp.Header.ContentLength(), 0)
	}
	return len(resp.Body())
}

// logAccess writes the request's access log line in the configured format.
func (s *generation) logAccess(ctx *fasthttp.RequestCtx, st *reqState, status int, elapsed time.Duration) {
	r := s.accessRecord(ctx, st, status)
	switch s.access {
	case accessJSON:
		st.line = r.appendJSON(st.line[:0], st.started, elapsed)
		s.accessOut.write(st.line)
	case accessCommon:
		st.line = r.appendCommon(st.line[:0], st.started, elapsed)
		s.accessOut.write(st.line)
	default:
		s.log.LogAttrs(context.Background(), slog.LevelInfo, "request", r.attrs(elapsed)...)
	}
}

// attrs are the text format's fields, in the JSON format's order.
func (r *accessRecord) attrs(elapsed time.Duration) []slog.Attr {
	path := string(r.path)
	if r.query != nil {
		path += "?" + string(r.query)
	}
	return []slog.Attr{
		slog.String("method", string(r.method)), slog.String("path", path),
		slog.String("route", r.route), slog.Int("status", r.status),
		slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
		slog.Int("bytes_in", r.bytesIn), slog.Int("bytes_out", r.bytesOut),
		slog.String("cache", r.cache.String()), slog.String("upstream", r.upstream),
		slog.String("target", r.target), slog.String("remote", r.remote.String()),
		slog.String("user_agent", string(r.userAgent)), slog.String("request_id", string(r.id)),
	}
}

// appendJSON appends one JSON object and a newline; time, level and msg
// come first as in the slog JSON handler's records, so the two mix in
// one stream.
func (r *accessRecord) appendJSON(b []byte, started time.Time, elapsed time.Duration) []byte {
	b = append(b, `{"time":"`...)
	b = started.AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	b = append(b, `","level":"INFO","msg":"request","method":`...)
	b = jsonstr.Append(b, r.method)
	b = append(b, `,"path":"`...)
	b = jsonstr.AppendInner(b, r.path)
	if r.query != nil {
		b = jsonstr.AppendInner(append(b, '?'), r.query)
	}
	b = append(b, '"')
	b = append(b, `,"route":`...)
	b = jsonstr.Append(b, r.route)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(r.status), 10)
	b = append(b, `,"duration_ms":`...)
	b = appendMillis(b, elapsed)
	b = append(b, `,"bytes_in":`...)
	b = strconv.AppendInt(b, int64(r.bytesIn), 10)
	b = append(b, `,"bytes_out":`...)
	b = strconv.AppendInt(b, int64(r.bytesOut), 10)
	b = append(b, `,"cache":`...)
	b = jsonstr.Append(b, r.cache.String())
	b = append(b, `,"upstream":`...)
	b = jsonstr.Append(b, r.upstream)
	b = append(b, `,"target":`...)
	b = jsonstr.Append(b, r.target)
	b = append(b, `,"remote":"`...)
	b = r.remote.AppendTo(b)
	b = append(b, `","user_agent":`...)
	b = jsonstr.Append(b, r.userAgent)
	b = append(b, `,"request_id":`...)
	b = jsonstr.Append(b, r.id)
	return append(b, "}\n"...)
}

// appendCommon appends an NCSA Combined Log Format line (Apache's
// "%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-agent}i\""), which
// tools reading the Common format accept as its prefix, then Tiercel's
// fields: the cache outcome (X-Cache, - if none), "route", "upstream",
// "target", bytes in, duration in ms and the request id.
func (r *accessRecord) appendCommon(b []byte, started time.Time, elapsed time.Duration) []byte {
	b = appendOr(r.remote.AppendTo(b), r.remote.IsValid())
	b = append(b, " - - ["...)
	b = started.AppendFormat(b, "02/Jan/2006:15:04:05 -0700")
	b = append(b, `] "`...)
	b = appendCLFEscaped(b, r.method)
	b = append(b, ' ')
	b = appendCLFEscaped(b, r.path)
	if r.query != nil {
		b = appendCLFEscaped(append(b, '?'), r.query)
	}
	b = append(b, ' ')
	b = appendCLFEscaped(b, r.proto)
	b = append(b, `" `...)
	b = strconv.AppendInt(b, int64(r.status), 10)
	b = append(b, ' ')
	if r.bytesOut > 0 {
		b = strconv.AppendInt(b, int64(r.bytesOut), 10)
	} else {
		b = append(b, '-') // %b: no body is "-", not 0
	}
	b = appendCLFQuoted(append(b, ' '), r.referer)
	b = appendCLFQuoted(append(b, ' '), r.userAgent)
	b = append(b, ' ')
	b = appendOr(append(b, r.cache.String()...), r.cache != cacheNone)
	b = appendCLFQuoted(append(b, ' '), r.route)
	b = appendCLFQuoted(append(b, ' '), r.upstream)
	b = appendCLFQuoted(append(b, ' '), r.target)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(r.bytesIn), 10)
	b = append(b, ' ')
	b = appendMillis(b, elapsed)
	b = append(b, ' ')
	b = appendCLFEscaped(b, r.id)
	return append(b, '\n')
}

// appendOr appends "-" when ok is false: the field was empty.
func appendOr(b []byte, ok bool) []byte {
	if ok {
		return b
	}
	return append(b, '-')
}

// appendMillis formats d as milliseconds with microsecond precision
// ("1.234"), as Server-Timing does, without float formatting.
func appendMillis(b []byte, d time.Duration) []byte {
	us := max(d.Microseconds(), 0)
	b = strconv.AppendInt(b, us/1000, 10)
	frac := us % 1000
	return append(b, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
}

// appendCLFQuoted appends s in double quotes, "-" when empty, as Apache
// writes %{Referer}i.
func appendCLFQuoted[T []byte | string](b []byte, s T) []byte {
	b = append(b, '"')
	if len(s) == 0 {
		b = append(b, '-')
	} else {
		b = appendCLFEscaped(b, s)
	}
	return append(b, '"')
}

// appendCLFEscaped escapes as Apache does in %r and %i: '"' and '\' with
// a backslash, other non-printable bytes as \xhh, so a client cannot end
// a quoted field or forge a line.
func appendCLFEscaped[T []byte | string](b []byte, s T) []byte {
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20 || c >= 0x7f:
			b = append(b, '\\', 'x', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return b
}
