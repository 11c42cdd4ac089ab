package gateway

import (
	"github.com/valyala/fasthttp"

	"github.com/tiercel/tiercel/cache"
)

// shed answers a request over server.max_in_flight without queueing it and
// without any upstream or Redis work: from L1 (fresh, or stale inside its
// windows), else the route's fallback, else 503 with Retry-After. Past the
// limit, more concurrency only makes every request later; the ones that
// still get work done are the ones already admitted.
func (s *generation) shed(ctx *fasthttp.RequestCtx, rt *route, st *reqState) {
	s.stats.shed.Add(1)
	if rt.cache != nil && s.cache != nil && (ctx.IsGet() || ctx.IsHead()) && rt.cache.keyable(st.caller) {
		st.ckey = rt.cache.appendCacheKey(st.ckey[:0], &ctx.Request.Header, st, st.caller)
		// A Kept entry is there only to be revalidated, never served.
		if e, fr, ok := s.cache.Get(st.ckey, st.started); ok && fr.Servable() && !s.pass.has(st.ckey, st.started) {
			label := cacheStale
			if fr == cache.Fresh {
				label = cacheHitL1
			}
			s.writeEntry(ctx, st, e, label, st.started)
			return
		}
	}
	if s.serveFallback(ctx, rt, st) {
		return
	}
	writeError(ctx, errOverloaded, st.id)
	ctx.Response.Header.SetCanonical(hdrRetryAfter, retryAfterOne)
}
