package gateway

import (
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tiercel/tiercel/cache"
)

// cacheLabel is how a response was served: the X-Cache header, the access
// log's cache field and the cache label of the request metrics.
type cacheLabel uint8

const (
	cacheNone cacheLabel = iota // route not cached
	cacheHitL1
	cacheHitL2
	cacheMiss
	cacheStale
	cacheBypass
	cacheFallback    // the route's declared default answered
	cacheRevalidated // a stored response the origin confirmed with a 304
	numCacheLabels
)

// cacheLabelNames are the X-Cache values (and the access log's).
var cacheLabelNames = [numCacheLabels]string{"", "HIT-L1", "HIT-L2", "MISS", "STALE", "BYPASS", "FALLBACK", "REVALIDATED"}

// cacheMetricValues are the same outcomes as Prometheus label values: lower
// snake case, as tiercel_cache_lookups_total's cache label spells them, so
// one value means one thing in every series.
var cacheMetricValues = [numCacheLabels]string{"", "hit_l1", "hit_l2", "miss", "stale", "bypass", "fallback", "revalidated"}

func (l cacheLabel) String() string { return cacheLabelNames[l] }

// metricValue is l as the cache label of a metric.
func (l cacheLabel) metricValue() string { return cacheMetricValues[l] }

var cacheLabelBytes = func() (out [numCacheLabels][]byte) {
	for i := range out {
		out[i] = []byte(cacheLabel(i).String())
	}
	return out
}()

func labelOf(o cache.Outcome) cacheLabel {
	switch o {
	case cache.OutcomeHitL1:
		return cacheHitL1
	case cache.OutcomeHitL2:
		return cacheHitL2
	case cache.OutcomeStale, cache.OutcomeStaleError:
		return cacheStale
	case cache.OutcomeRevalidated:
		return cacheRevalidated
	}
	return cacheMiss
}

// served records how the response now in ctx was served and says so on it:
// X-Cache, and Cache-Status (RFC 9211) unless status is nil. The code that
// decides the outcome calls it once the answer it describes is in place
// (an upstream's response and writeError replace every header written
// before them); st.cache keeps the label for finish's metrics and access
// log line.
func (st *reqState) served(h *fasthttp.ResponseHeader, label cacheLabel, status []byte) {
	st.cache = label
	h.SetCanonical(hdrXCache, cacheLabelBytes[label])
	if status != nil {
		h.SetCanonical(hdrCacheStatus, status)
	}
}

// cacheStatus is the Cache-Status value "tiercel; " + detail, in st.scratch.
func (st *reqState) cacheStatus(detail string) []byte {
	st.scratch = append(append(st.scratch[:0], "tiercel; "...), detail...)
	return st.scratch
}

// bypass answers from the origin past the cache, nothing read or stored,
// unless the route's fallback answers instead (which says so itself).
func (s *generation) bypass(ctx *fasthttp.RequestCtx, rt *route, st *reqState, deadline time.Time) {
	if !s.proxy(ctx, rt, st, deadline) {
		st.served(&ctx.Response.Header, cacheBypass, cacheStatusBypass)
	}
}
