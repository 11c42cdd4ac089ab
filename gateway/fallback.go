package gateway

import (
	"fmt"
	"net/textproto"

	"github.com/valyala/fasthttp"

	"github.com/tiercel/tiercel/internal/defaults"
)

// RouteFallback is a route's declared default answer: the last step of the
// degradation ladder before an error. It is served, marked X-Cache:
// FALLBACK, to a GET or HEAD when the origin failed (connection error,
// timeout, 5xx, open breaker, shed load) and no stale copy inside
// stale_if_error is left. Writes never get it: a made-up success for a
// write would lie.
type RouteFallback struct {
	// Status defaults to 200.
	Status int `yaml:"status"`
	// ContentType defaults to application/json.
	ContentType string `yaml:"content_type"`
	// Body is sent as is.
	Body string `yaml:"body"`
	// Headers are added to the response.
	Headers map[string]string `yaml:"headers"`
}

func (f *RouteFallback) setDefaults() {
	if f == nil {
		return
	}
	defaults.Set(&f.Status, fasthttp.StatusOK)
	defaults.Set(&f.ContentType, "application/json")
}

func (f *RouteFallback) validate() []string {
	if f == nil {
		return nil
	}
	var errs []string
	if f.Status < 200 || f.Status > 599 {
		errs = append(errs, fmt.Sprintf("fallback.status: %d is not an HTTP status", f.Status))
	}
	for k := range f.Headers {
		if !validHeaderName(k) {
			errs = append(errs, fmt.Sprintf("fallback.headers: %q is not a header name", k))
		}
	}
	return errs
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == ':' {
			return false
		}
	}
	return true
}

// fallbackResponse is a RouteFallback ready to write: bytes prepared once.
type fallbackResponse struct {
	status      int
	contentType []byte
	body        []byte
	headers     [][2][]byte
}

func newFallbackResponse(f *RouteFallback) *fallbackResponse {
	if f == nil {
		return nil
	}
	r := &fallbackResponse{status: f.Status, contentType: []byte(f.ContentType), body: []byte(f.Body)}
	for k, v := range f.Headers {
		r.headers = append(r.headers, [2][]byte{[]byte(textproto.CanonicalMIMEHeaderKey(k)), []byte(v)})
	}
	return r
}

// serveFallback answers with the route's fallback if it has one and the
// request is a read, and reports whether it did.
func (s *Server) serveFallback(ctx *fasthttp.RequestCtx, rt *route, st *reqState) bool {
	fb := rt.fallback
	if fb == nil || !(ctx.IsGet() || ctx.IsHead()) {
		return false
	}
	ctx.Response.Reset()
	ctx.Response.SetStatusCode(fb.status)
	ctx.Response.Header.SetContentTypeBytes(fb.contentType)
	// A default answer must not be kept downstream past the outage;
	// the fallback's own headers may say otherwise.
	ctx.Response.Header.SetCanonical(hdrCacheControl, noStore)
	for _, h := range fb.headers {
		ctx.Response.Header.SetCanonical(h[0], h[1])
	}
	ctx.Response.SetBodyRaw(fb.body)
	st.served(&ctx.Response.Header, cacheFallback, st.cacheStatus("fwd=uri-miss; detail=fallback"))
	s.stats.fallbacks.Add(1)
	return true
}
