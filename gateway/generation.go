package gateway

import (
	"fmt"

	"github.com/valyala/fasthttp"

	"github.com/tiercel/tiercel/cache"
	"github.com/tiercel/tiercel/features"
	"github.com/tiercel/tiercel/gateway/auth"
	"github.com/tiercel/tiercel/gateway/ratelimit"
	"github.com/tiercel/tiercel/gateway/reqtarget"
	"github.com/tiercel/tiercel/gateway/router"
	"github.com/tiercel/tiercel/gateway/upstream"
)

// generation is one loaded config and everything a request reads that a
// reload may change: the route table and the components the routes use.
// It is never modified once published: a reload builds the next one and
// swaps Server.gen, so a request, which loads the pointer once, finishes on
// the config it started with.
//
// It embeds the Server for what outlives every config (listeners, Redis,
// Kafka, metrics, counters): the request path is written as methods of
// generation, and reads s.cache or s.log alike without caring which of the
// two owns it.
type generation struct {
	*Server
	// cfg is the config this generation was built from.
	cfg      Config
	router   router.Router
	routes   []*route
	verifier *auth.Verifier
	limiter  *ratelimit.Limiter
	pools    map[string]*upstream.Pool
	cache    *cache.Tiered
	features *features.Store
	// targets reads request targets into the one path routed, keyed and
	// forwarded.
	targets reqtarget.Options
	// access is log.access and log.access_format; accessQuery puts the
	// query string in its lines.
	access      accessFormat
	accessQuery bool
	// maxInFlight is server.max_in_flight; 0: no bound.
	maxInFlight int64
}

// handle serves one public request on the current generation.
func (s *Server) handle(ctx *fasthttp.RequestCtx) { s.gen.Load().serve(ctx) }

func (s *generation) buildRoutes() error {
	for i, rc := range s.cfg.Routes {
		rt := &route{
			name:     rc.Name,
			timeout:  rc.Timeout,
			authMode: rc.Auth.Mode,
			scopes:   rc.Auth.Scopes,
			pool:     s.pools[rc.Upstream],
			metrics:  s.reload.routeMetrics(s.metrics, rc.Name),
			upDur:    s.metrics.upDur.WithLabelValues(rc.Upstream),

			upstreamName: rc.Upstream,
			builtin:      builtinHandlers[rc.Handler],
			fallback:     newFallbackResponse(rc.Fallback),
			omitTiming:   rc.Headers.OmitServerTiming,
			omitLimit:    rc.Headers.OmitRateLimit,
		}
		for _, tmpl := range rc.InvalidateTags {
			t, err := compileTemplate(tmpl, pathParams(rc.Path))
			if err != nil {
				return fmt.Errorf("routes[%d].invalidate_tags: %w", i, err)
			}
			rt.invalidates = append(rt.invalidates, t)
		}
		if rc.Cache.Enabled {
			rt.cache = newRouteCache(rc.Name, rc.Cache, keptClaims(s.cfg.Routes))
			for _, tmpl := range rc.Cache.Tags {
				t, err := compileTemplate(tmpl, pathParams(rc.Path))
				if err != nil {
					return fmt.Errorf("routes[%d].cache.tags: %w", i, err)
				}
				rt.cache.tags = append(rt.cache.tags, t)
			}
		}
		if rt.authMode != authNone && s.verifier == nil {
			return fmt.Errorf("routes[%d]: auth mode %s but no issuers configured", i, rt.authMode)
		}
		if rc.RateLimit != "" {
			rt.cluster = s.redis != nil && s.cfg.RateLimit.Policies[rc.RateLimit].Cluster
		}
		for _, m := range rc.Methods {
			if err := s.router.Add(m, rc.Path, i); err != nil {
				return fmt.Errorf("routes[%d].path: %w", i, err)
			}
		}
		s.routes = append(s.routes, rt)
	}
	return nil
}

// bindLimits gives the rate-limited routes their Handles. A route limited
// by the same policy as before keeps its Handle, and its buckets.
func (s *generation) bindLimits() error {
	names := map[string]string{}
	for _, rc := range s.cfg.Routes {
		if rc.RateLimit != "" {
			names[rc.Name] = rc.RateLimit
		}
	}
	handles, err := s.limiter.Update(s.cfg.RateLimit.Policies, names)
	if err != nil {
		return fmt.Errorf("rate_limit: %w", err)
	}
	for i, rc := range s.cfg.Routes {
		s.routes[i].limit = handles[rc.Name]
	}
	return nil
}
