package upstream

import (
	"bytes"
	"net"
	"net/netip"

	"github.com/valyala/bytebufferpool"
	"github.com/valyala/fasthttp"
)

// hopByHop are the headers that describe one connection, not the message
// (RFC 9110 section 7.6.1), so a proxy must not forward them. Proxy-Connection
// is not standard but old clients still send it.
var hopByHop = [...]string{
	fasthttp.HeaderConnection,
	"Proxy-Connection",
	fasthttp.HeaderKeepAlive,
	fasthttp.HeaderProxyAuthenticate,
	fasthttp.HeaderProxyAuthorization,
	fasthttp.HeaderTE,
	fasthttp.HeaderTrailer,
	fasthttp.HeaderTransferEncoding,
	fasthttp.HeaderUpgrade,
}

// header is what stripping needs from fasthttp's request and response
// headers, which share no type.
type header interface {
	PeekKeys() [][]byte
	PeekAll(key string) [][]byte
	Del(key string)
	DelBytes(key []byte)
}

var (
	_ header = (*fasthttp.RequestHeader)(nil)
	_ header = (*fasthttp.ResponseHeader)(nil)
)

// stripHopByHop removes the hop-by-hop headers and those that Connection
// names as such. Most messages carry none or only Connection, so one pass
// over the keys finds them; deleting each blindly would normalise and
// search for nine names every time.
func stripHopByHop(h header) {
	var present uint16 // bit i: hopByHop[i] is present
	for _, k := range h.PeekKeys() {
		for i, name := range hopByHop {
			if len(k) == len(name) && bytes.EqualFold(k, []byte(name)) {
				present |= 1 << i
			}
		}
	}
	if present == 0 {
		return
	}
	if present&1 != 0 { // hopByHop[0] is Connection
		deleteNamed(h, h.PeekAll(fasthttp.HeaderConnection))
	}
	for i, name := range hopByHop {
		if present&(1<<i) != 0 {
			h.Del(name)
		}
	}
}

// deleteNamed deletes the headers named in Connection's values. The values
// are copied first because they alias header storage that deletions may
// rearrange; the copy goes to a pooled buffer because a stack one would
// escape through the interface calls and cost an allocation per request.
func deleteNamed(h header, values [][]byte) {
	buf := bytebufferpool.Get()
	defer bytebufferpool.Put(buf)
	for _, v := range values {
		buf.B = append(buf.B, v...)
		buf.B = append(buf.B, ',')
	}
	for rest := buf.B; len(rest) > 0; {
		i := bytes.IndexByte(rest, ',') // always found: each value ends with one
		if name := bytes.TrimSpace(rest[:i]); len(name) > 0 {
			h.DelBytes(name)
		}
		rest = rest[i+1:]
	}
}

// setForwarded tells the upstream who the client is and what it asked for.
// The client's own X-Forwarded-For is kept and extended, not trusted:
// deciding how many entries to believe is the upstream's job.
func setForwarded(dst *fasthttp.RequestHeader, ctx *fasthttp.RequestCtx, requestID []byte) {
	var buf [128]byte
	xff := buf[:0]
	for _, v := range dst.PeekAll(fasthttp.HeaderXForwardedFor) {
		xff = append(xff, v...)
		xff = append(xff, ", "...)
	}
	xff = appendIP(xff, ctx.RemoteIP())
	// Del first: Set would replace only the first of repeated headers.
	dst.Del(fasthttp.HeaderXForwardedFor)
	dst.SetCanonical(keyForwardedFor, xff)

	proto := protoHTTP
	if ctx.IsTLS() {
		proto = protoHTTPS
	}
	dst.SetCanonical(keyForwardedProto, proto)
	dst.SetCanonical(keyForwardedHost, ctx.Host())
	if len(requestID) > 0 {
		dst.SetCanonical(keyRequestID, requestID)
	}
}

// Header names in canonical form, which SetCanonical takes as is instead of
// normalising a copy on every request. Never modified.
var (
	keyForwardedFor   = []byte(fasthttp.HeaderXForwardedFor)
	keyForwardedProto = []byte(fasthttp.HeaderXForwardedProto)
	keyForwardedHost  = []byte(fasthttp.HeaderXForwardedHost)
	keyRequestID      = []byte("X-Request-Id")
	protoHTTP         = []byte("http")
	protoHTTPS        = []byte("https")
)

// appendIP formats ip without the allocation of net.IP.String.
func appendIP(dst []byte, ip net.IP) []byte {
	addr, ok := netip.AddrFromSlice(ip)
	if !ok {
		return append(dst, "unknown"...)
	}
	return addr.Unmap().AppendTo(dst)
}
