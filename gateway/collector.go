package gateway

import (
	"sort"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tiercel/tiercel/gateway/auth"
)

// statsCollector turns the components' Stats snapshots into Prometheus
// metrics at scrape time, so no component imports Prometheus.
type statsCollector struct{ s *Server }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("tiercel_"+name, help, labels, nil)
}

var (
	descPanics        = desc("panics_total", "Panics recovered in the request handler (answered 500).")
	descBadRequests   = desc("bad_requests_total", "Requests fasthttp could not parse or whose body was over the limit.")
	descConnTimeouts  = desc("connection_timeouts_total", "Public connections cut by server.read_timeout or idle_timeout (read) or write_timeout (write).", "phase")
	descAuthFailures  = desc("auth_failures_total", "Rejected requests by reason: token problems (401) and missing scopes (403).", "reason")
	descTokenCache    = desc("auth_token_cache_total", "Verified-token cache lookups.", "result")
	descTokenEntries  = desc("auth_token_cache_entries", "Tokens in the verified-token cache.")
	descVerifications = desc("auth_verifications_total", "Signature verifications (token cache misses that parsed).")
	descJWKSFetches   = desc("auth_jwks_fetches_total", "JWKS fetches by result; unknown_kid counts fetches triggered by unknown kids, empty the successful ones whose set had no usable key.", "result")
	descJWKSKeys      = desc("auth_jwks_keys", "Keys in an issuer's JWKS in use: 0 before the first good fetch, after an empty answer, or once jwks_max_stale has passed.", "issuer")
	descJWKSRevoked   = desc("auth_jwks_keys_revoked_total", "Keys that left their JWKS; their tokens were refused from then on, cached ones included.")
	descJWKSStale     = desc("auth_jwks_stale_total", "Times an issuer's last good JWKS outlived jwks_max_stale while fetches failed, and its keys were dropped.")
	descLimitDecision = desc("ratelimit_decisions_total", "Rate-limit decisions.", "result")
	descLimitRedisErr = desc("ratelimit_redis_errors_total", "Cluster rate-limit calls to Redis that failed or timed out.")
	descLimitFallback = desc("ratelimit_fallbacks_total", "Cluster-policy decisions answered by the local limiter because Redis was unavailable.")
	descLimitEvict    = desc("ratelimit_evictions_total", "Rate-limit buckets evicted (idle or over the key bound).")
	descLimitKeys     = desc("ratelimit_keys", "Rate-limit buckets held in memory.")
	descLimitBreaker  = desc("ratelimit_redis_breaker", "State of the breaker around the rate limiter's Redis (1 for the current state).", "state")
	descCacheLookups  = desc("cache_lookups_total", "Cache lookups by outcome (hit_l1, hit_l2, miss, revalidated, stale, stale_error, error).", "cache")
	descCacheCoalesce = desc("cache_coalesced_waits_total", "Requests that waited on another request's fill instead of filling.")
	descCacheFills    = desc("cache_fills_total", "Fills (upstream fetches for the cache) by result.", "result")
	descCacheRefresh  = desc("cache_background_refreshes_total", "Background refreshes of stale entries.")
	descCacheFenced   = desc("cache_fenced_total", "Fill results discarded because an invalidation overtook them.")
	descCacheEvict    = desc("cache_evictions_total", "L1 evictions.")
	descCacheL2       = desc("cache_l2_operations_total", "L2 (Redis) operations by result.", "result")
	descCacheL2State  = desc("cache_l2_breaker", "State of the breaker around the L2 cache (1 for the current state).", "state")
	descCacheInval    = desc("cache_invalidations_total", "Keys and tags invalidated.")
	descCacheDetached = desc("cache_invalidations_detached_total", "Invalidations whose L2 part outlived its caller's deadline (a write's budget) and went on in the background.")
	descCachePending  = desc("cache_l2_pending_invalidations", "Keys and tags invalidated here whose L2 generation bump is not confirmed yet: their L2 entries are read as misses meanwhile.")
	descEvApplied     = desc("invalidation_events_applied_total", "Invalidation events applied, by type.", "type")
	descEvSkipped     = desc("invalidation_events_skipped_total", "Invalidation events skipped, by reason.", "reason")
	descEvApplyErrors = desc("invalidation_apply_errors_total", "Failed attempts to apply an event (each retry counts).")
	descEvReplayed    = desc("invalidation_events_replayed_total", "Events applied that were published before this replica started.")
	descEvGaps        = desc("invalidation_gaps_total", "Long Kafka disconnects; each dropped this replica's L1.")
	descEvLag         = desc("invalidation_lag_messages", "Messages the broker had beyond the last one read, by partition.", "partition")
	descEvLatency     = desc("invalidation_apply_latency_seconds", "Event time (ts) to applied on this replica.")
	descEvPublishErr  = desc("invalidation_publish_errors_total", "Write invalidations (unsafe methods, invalidate_tags) that could not be published to Kafka.")
	descUnsafeInval   = desc("unsafe_invalidations_total", "Unsafe requests (POST, PUT, DELETE, PATCH, ...) whose non-error answer invalidated the stored responses of their target URI, Location or Content-Location (RFC 9111 §4.4).")
	descWriteInvalL2  = desc("write_invalidation_l2_errors_total", "Write invalidations (unsafe methods, invalidate_tags) applied to this replica's L1 that did not reach L2.")
	descEvConnected   = desc("invalidation_connected", "1 while the Kafka consumer is in contact with the broker and not in a gap.")
	descUpRequests    = desc("upstream_requests_total", "Requests sent to an upstream pool.", "upstream")
	descUpErrors      = desc("upstream_errors_total", "Upstream requests that failed, by kind.", "upstream", "kind")
	descUpRetries     = desc("upstream_retries_total", "Extra attempts on another target after a connection failure.", "upstream")
	descUpHealthy     = desc("upstream_target_healthy", "1 when a target is in rotation.", "upstream", "target")
	descUpInFlight    = desc("upstream_target_in_flight", "Requests in flight to a target.", "upstream", "target")
	descUpBreaker     = desc("upstream_breaker_state", "State of a target's circuit breaker (1 for the current state).", "upstream", "target", "state")
	descUpRejected    = desc("upstream_breaker_rejections_total", "Attempts refused by an open breaker: nothing was sent.", "upstream")
	descUpHedges      = desc("upstream_hedges_total", "Second requests sent by hedge_after, and those that answered first.", "upstream", "result")
	descRedisErrors   = desc("redis_errors_total", "Redis commands that failed, by kind: timeout, canceled, connection, or the error reply's prefix (crossslot, moved, clusterdown, readonly, loading, noscript, wrongtype, ...).", "kind")
	descRedisReloads  = desc("redis_slot_reloads_total", "Cluster slot map reloads asked for after connection errors or redirections.")
	descFallbacks     = desc("fallbacks_total", "Route fallbacks (declared default answers) served.")
	descShed          = desc("shed_total", "Requests over server.max_in_flight, answered at once from L1, a fallback or a 503.")
	descInFlight      = desc("requests_in_flight", "Requests being worked on (counted only when server.max_in_flight is set).")
	descReloads       = desc("config_reloads_total", "Config reloads (SIGHUP, POST /admin/reload) by result: ok, invalid (the file did not load or validate), restart_required (a setting only a restart applies changed), error (a component could not be built).", "result")
	descReloadOK      = desc("config_last_reload_successful", "1 when the last reload succeeded (or none was tried), 0 while the file on disk is not the config serving.")
	descReloadTime    = desc("config_last_reload_success_timestamp_seconds", "When the config serving now was loaded (start or last successful reload), Unix time.")
)

func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	prometheus.DescribeByCollect(c, ch)
}

func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s.current() // the components the current config uses
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter(descPanics, s.stats.panics.Load())
	counter(descFallbacks, s.stats.fallbacks.Load())
	counter(descShed, s.stats.shed.Load())
	if s.maxInFlight > 0 {
		gauge(descInFlight, float64(s.inFlight.Load()))
	}
	counter(descBadRequests, s.stats.badRequests.Load())
	r := &s.reload
	counter(descReloads, r.ok.Load(), "ok")
	counter(descReloads, r.invalid.Load(), "invalid")
	counter(descReloads, r.restart.Load(), "restart_required")
	counter(descReloads, r.failed.Load(), "error")
	gauge(descReloadOK, b2f(!r.lastBad.Load()))
	gauge(descReloadTime, float64(r.lastOK.Load()))
	if s.rconn != nil {
		for kind, n := range s.rconn.Errors() {
			counter(descRedisErrors, n, kind)
		}
		counter(descRedisReloads, s.rconn.Reloads())
	}
	if s.timeouts != nil {
		st := s.timeouts.Stats()
		counter(descConnTimeouts, st.ReadTimeouts, "read")
		counter(descConnTimeouts, st.WriteTimeouts, "write")
	}
	counter(descAuthFailures, s.stats.scopeDenied.Load(), "insufficient_scope")
	if s.verifier != nil {
		st := s.verifier.Stats()
		for i, n := range st.Failures {
			counter(descAuthFailures, n, auth.Reason(i).String())
		}
		counter(descTokenCache, st.CacheHits, "hit")
		counter(descTokenCache, st.CacheMisses, "miss")
		gauge(descTokenEntries, float64(st.CacheEntries))
		counter(descVerifications, st.Verifications)
		counter(descJWKSFetches, succeeded(st.JWKSRefreshes, st.JWKSErrors), "ok")
		counter(descJWKSFetches, st.JWKSErrors, "error")
		counter(descJWKSFetches, st.JWKSUnknownKIDRefetches, "unknown_kid")
		counter(descJWKSFetches, st.JWKSEmptySets, "empty")
		counter(descJWKSRevoked, st.JWKSKeysRevoked)
		counter(descJWKSStale, st.JWKSStaleDrops)
		for _, is := range s.verifier.Status() {
			gauge(descJWKSKeys, float64(is.Keys), is.Name)
		}
	}
	if s.cache != nil {
		cs := s.cache.Stats()
		counter(descCacheLookups, cs.L1Hits, "hit_l1")
		counter(descCacheLookups, cs.L2Hits, "hit_l2")
		counter(descCacheLookups, cs.Misses, "miss")
		counter(descCacheLookups, cs.Revalidated, "revalidated")
		counter(descCacheLookups, cs.StaleServed, "stale")
		counter(descCacheLookups, cs.StaleErrorServed, "stale_error")
		counter(descCacheLookups, cs.Errors, "error")
		counter(descCacheCoalesce, cs.CoalescedWaits)
		counter(descCacheFills, succeeded(cs.Fills, cs.FillErrors), "ok")
		counter(descCacheFills, cs.FillErrors, "error")
		counter(descCacheRefresh, cs.BackgroundRefreshes)
		counter(descCacheFenced, cs.Fenced)
		counter(descCacheEvict, cs.Evictions)
		counter(descCacheL2, cs.L2Reads, "read")
		counter(descCacheL2, cs.L2Writes, "write")
		counter(descCacheL2, cs.L2WriteDrops, "write_dropped")
		counter(descCacheL2, cs.L2Errors, "error")
		counter(descCacheL2, cs.L2Timeouts, "timeout")
		counter(descCacheL2, cs.L2Skipped, "skipped_breaker_open")
		counter(descCacheL2, cs.L2PendingMiss, "refused_pending_invalidation")
		counter(descCacheInval, cs.Invalidations)
		counter(descCacheDetached, cs.L2Detached)
		gauge(descCachePending, float64(cs.L2Pending))
		counter(descUnsafeInval, s.stats.unsafeInvalidations.Load())
		counter(descWriteInvalL2, s.stats.writeL2Errors.Load())
		l2 := s.cache.L2State()
		for _, st := range breakerStatesOrOff {
			gauge(descCacheL2State, b2f(st == l2), st)
		}
	}
	if s.consumer != nil {
		es := s.consumer.Stats()
		for typ, n := range es.Applied {
			counter(descEvApplied, n, string(typ))
		}
		for reason, n := range es.Skipped {
			counter(descEvSkipped, n, string(reason))
		}
		counter(descEvApplyErrors, es.ApplyErrors)
		counter(descEvReplayed, es.Replayed)
		counter(descEvGaps, es.Gaps)
		for p, lag := range es.Lag {
			gauge(descEvLag, float64(lag), strconv.Itoa(p))
		}
		h := es.Latency
		buckets := make(map[float64]uint64, len(h.Bounds))
		var cum uint64
		for i, b := range h.Bounds {
			cum += h.Counts[i]
			buckets[b.Seconds()] = cum
		}
		ch <- prometheus.MustNewConstHistogram(descEvLatency, h.Count, h.Sum.Seconds(), buckets)
		gauge(descEvConnected, b2f(s.consumer.Ready() == nil))
		counter(descEvPublishErr, s.stats.publishErrors.Load())
	}
	s.collectFeatures(counter, gauge)
	s.collectModelErrors(counter)
	ls := s.limiter.Stats()
	counter(descLimitDecision, ls.Allowed, "allowed")
	counter(descLimitDecision, ls.Rejected, "rejected")
	counter(descLimitRedisErr, ls.RedisErrors)
	counter(descLimitFallback, ls.Fallbacks)
	counter(descLimitEvict, ls.Evictions)
	gauge(descLimitKeys, float64(ls.LiveKeys))
	state := s.limiter.RedisState()
	for _, st := range breakerStatesOrOff {
		gauge(descLimitBreaker, b2f(st == state), st)
	}
	names := make([]string, 0, len(s.pools))
	for name := range s.pools {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p := s.pools[name]
		ps := p.Stats()
		counter(descUpRequests, ps.Requests, name)
		counter(descUpErrors, ps.Timeouts, name, "timeout")
		counter(descUpErrors, ps.Unavailable-ps.Overloaded, name, "unavailable")
		counter(descUpErrors, ps.Overloaded, name, "overloaded")
		counter(descUpRejected, ps.Rejected, name)
		counter(descUpHedges, ps.Hedges-ps.HedgeWins, name, "lost")
		counter(descUpHedges, ps.HedgeWins, name, "won")
		counter(descUpRetries, ps.Retries, name)
		for _, t := range p.Status() {
			gauge(descUpHealthy, b2f(t.Healthy), name, t.Addr)
			gauge(descUpInFlight, float64(t.InFlight), name, t.Addr)
			if t.Breaker != "disabled" {
				for _, st := range breakerStates {
					gauge(descUpBreaker, b2f(t.Breaker == st), name, t.Addr, st)
				}
			}
		}
	}
}

// breakerStates are gobreaker's state names; breakerStatesOrOff adds the
// one for a dependency that is not configured.
var (
	breakerStates      = []string{"closed", "half-open", "open"}
	breakerStatesOrOff = []string{"disabled", "closed", "half-open", "open"}
)

// succeeded is attempts - failed for an "ok" series. The two counters are
// loaded one after the other while requests run, so failed may briefly be
// ahead of the attempts read first: a plain uint64 subtraction would then
// export 1.8e19.
func succeeded(attempts, failed uint64) uint64 {
	if failed > attempts {
		return 0
	}
	return attempts - failed
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// authChecks reports each JWKS issuer for /readyz: down when it has no
// usable key, static ones included (never loaded, emptied, or stale past
// jwks_max_stale: its tokens all fail), degraded when something is amiss
// but tokens still verify (the last refresh failed and the last good set is
// in use, or the JWKS is empty beside static keys). The detail's problem
// says which.
func (s *generation) authChecks() map[string]Check {
	out := map[string]Check{}
	if s.verifier == nil {
		return out
	}
	for _, is := range s.verifier.Status() {
		c := Check{Status: "ok", Detail: is}
		switch {
		case is.UsableKeys == 0:
			c.Status = "down"
		case is.Problem != "":
			c.Status = "degraded"
		}
		out["jwks:"+is.Name] = c
	}
	return out
}

// upstreamChecks reports each pool: down when no target is healthy,
// degraded when some are out of rotation.
func (s *generation) upstreamChecks() map[string]Check {
	out := map[string]Check{}
	for name, p := range s.pools {
		targets := p.Status()
		serving := 0
		for _, t := range targets {
			if t.Healthy && t.Breaker != "open" {
				serving++
			}
		}
		c := Check{Status: "ok", Detail: targets}
		switch {
		case serving == 0:
			c.Status = "down"
		case serving < len(targets):
			c.Status = "degraded"
		}
		out["upstream:"+name] = c
	}
	return out
}
