package gateway

import (
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tiercel/tiercel/cache"
	"github.com/tiercel/tiercel/gateway/httpcache"
)

// A client's own cache directives (RFC 9111 §5.2.1), on routes with
// cache.request_directives: honor. By default they are ignored, as most
// CDNs do: honouring no-cache lets any client send every request to the
// origin.
const (
	requestDirectivesIgnore = "ignore"
	requestDirectivesHonor  = "honor"
)

var errNotCached = &Error{fasthttp.StatusGatewayTimeout, "not_cached",
	"only-if-cached: no stored response satisfies the request"}

// serveRequestDirectives answers what the directives decide before the
// cache is read as usual, and reports whether it did:
//
//   - no-cache: the origin's answer, not stored (validating a stored
//     response with it is what RFC 9111 asks; fetching it whole is the
//     simpler, always correct way);
//   - only-if-cached: a stored response of this replica's memory tier (L1)
//     that suits the other directives, or 504;
//   - max-stale: a stale L1 entry within it;
//   - no-store: a stored response if one suits, else the origin's answer,
//     not stored.
//
// Otherwise (max-age, min-fresh) the usual path runs and checks what it
// finds against them.
func (s *generation) serveRequestDirectives(ctx *fasthttp.RequestCtx, rt *route, st *reqState, deadline time.Time, rd *httpcache.RequestDirectives) bool {
	now := st.started
	if rd.NoCache && !rd.OnlyIfCached {
		s.bypass(ctx, rt, st, deadline)
		return true
	}
	if e, fr, ok := s.cache.Get(st.ckey, now); ok && fr.Servable() && rd.Acceptable(now, e.StoredAt, e.FreshUntil) {
		label := cacheHitL1
		if fr != cache.Fresh {
			label = cacheStale
		}
		s.writeEntry(ctx, st, e, label, now)
		return true
	}
	switch {
	case rd.OnlyIfCached:
		// L1 only: a flight led by this request would hand its waiters
		// this request's refusal to reach the origin.
		writeError(ctx, errNotCached, st.id)
		st.served(&ctx.Response.Header, cacheMiss, nil)
		return true
	case rd.NoStore:
		s.bypass(ctx, rt, st, deadline)
		return true
	}
	return false
}
