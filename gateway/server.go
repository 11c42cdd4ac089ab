package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"

	"github.com/tiercel/tiercel/cache"
	"github.com/tiercel/tiercel/features"
	"github.com/tiercel/tiercel/gateway/auth"
	"github.com/tiercel/tiercel/gateway/conntimeout"
	"github.com/tiercel/tiercel/gateway/ratelimit"
	"github.com/tiercel/tiercel/gateway/reqtarget"
	"github.com/tiercel/tiercel/gateway/router"
	"github.com/tiercel/tiercel/gateway/upstream"
	"github.com/tiercel/tiercel/internal/redisconn"
	"github.com/tiercel/tiercel/invalidation"
)

// Server is a running gateway: the public fasthttp listener, the admin
// listener and the components the routes use.
type Server struct {
	cfg       Config
	log       *slog.Logger
	accessLog bool

	router   router.Router
	routes   []*route
	unrouted *routeMetrics
	verifier *auth.Verifier
	limiter  *ratelimit.Limiter
	pools    map[string]*upstream.Pool
	rconn    *redisconn.Conn       // nil without Redis
	redis    redis.UniversalClient // rconn.Client, or nil
	cache    *cache.Tiered
	features *features.Store
	consumer *invalidation.Consumer
	applier  *applier
	producer *invalidation.Producer // publishes write invalidations to other replicas
	// detached runs what a write's invalidation must finish after the
	// write is answered (unsafemethods.go).
	detached *detached
	pass     passSet
	ids      *requestIDs
	// targets reads request targets into the one path routed, keyed and
	// forwarded.
	targets reqtarget.Options
	metrics *metrics
	stats   serverStats

	public *fasthttp.Server
	// timeouts enforces server.read_timeout, write_timeout and
	// idle_timeout on public connections (fasthttp's own are off: they
	// re-arm runtime timers three times per request).
	timeouts *conntimeout.Guard
	admin    *http.Server
	// adminGuarded: the admin listener has a credential (adminauth.go).
	adminGuarded bool
	ln           net.Listener
	adminL       net.Listener

	draining atomic.Bool
	// inFlight counts admitted requests when maxInFlight (server.max_in_flight)
	// is set.
	inFlight    atomic.Int64
	maxInFlight int64
	wg          sync.WaitGroup
	closed      sync.Once
}

// serverStats are the gateway's own counters; the metrics exporter reads them.
type serverStats struct {
	panics      atomic.Uint64
	scopeDenied atomic.Uint64
	badRequests atomic.Uint64
	// publishErrors counts write invalidations that could not be published.
	publishErrors atomic.Uint64
	// unsafeInvalidations counts unsafe requests whose answer invalidated
	// stored responses (unsafemethods.go); writeL2Errors, write
	// invalidations that reached this replica's L1 but not L2.
	unsafeInvalidations atomic.Uint64
	writeL2Errors       atomic.Uint64
	// fallbacks counts route fallbacks served; shed counts requests turned
	// away at once by server.max_in_flight (answered from L1, the fallback
	// or a 503).
	fallbacks atomic.Uint64
	shed      atomic.Uint64
}

// New builds a gateway from a validated config (SetDefaults, Validate). It
// connects nothing yet that could block: Redis is dialled lazily.
func New(cfg Config, logger *slog.Logger) (*Server, error) {
	if logger == nil {
		logger = slog.Default()
	}
	s := &Server{cfg: cfg, log: logger, accessLog: cfg.Log.Access, ids: newRequestIDs(),
		targets: reqtarget.Options{KeepEscapedSlashes: cfg.Server.EscapedSlashes == "keep"}, pools: map[string]*upstream.Pool{},
		maxInFlight: int64(cfg.Server.MaxInFlight), detached: newDetached()}
	ok := false
	defer func() {
		if !ok {
			s.closeComponents()
		}
	}()
	var err error
	// One client for every component: one pool per node, one slot map.
	if s.rconn, err = redisconn.New(cfg.Redis, logger.With("component", "redis")); err != nil {
		return nil, fmt.Errorf("cannot set up redis: %w", err)
	}
	if s.rconn != nil {
		s.redis = s.rconn.Client
	}
	if len(cfg.Auth.Issuers) > 0 {
		authCfg := cfg.Auth
		authCfg.KeepClaims = keptClaims(cfg.Routes)
		if s.verifier, err = auth.New(authCfg, logger.With("component", "auth")); err != nil {
			return nil, fmt.Errorf("cannot set up auth: %w", err)
		}
	}
	if s.limiter, err = ratelimit.New(cfg.RateLimit, s.redis, logger.With("component", "ratelimit")); err != nil {
		return nil, fmt.Errorf("cannot set up rate limits: %w", err)
	}
	for _, uc := range cfg.Upstreams {
		p, err := upstream.New(uc, logger.With("component", "upstream", "upstream", uc.Name))
		if err != nil {
			return nil, fmt.Errorf("cannot set up upstream %q: %w", uc.Name, err)
		}
		s.pools[uc.Name] = p
	}
	if cfg.cachedRoutes() > 0 || cfg.usesFeatures() || cfg.invalidatingRoutes() {
		if s.cache, err = cache.New(cfg.Cache, s.redis, logger.With("component", "cache")); err != nil {
			return nil, fmt.Errorf("cannot set up the cache: %w", err)
		}
	}
	if cfg.usesFeatures() {
		s.features, err = features.New(cfg.Features, features.Options{
			Redis: s.redis, Cache: s.cache, Logger: logger.With("component", "features")})
		if err != nil {
			return nil, fmt.Errorf("cannot set up features: %w", err)
		}
	}
	s.metrics = newMetrics(s)
	s.metrics.reg.MustRegister(buildInfoGauge())
	s.unrouted = s.metrics.route("-")
	if err := s.buildRoutes(); err != nil {
		return nil, err
	}
	// Last: replayed events apply at once, and need the routes (keys are
	// request paths) and every component.
	if err := s.startConsumer(logger); err != nil {
		return nil, err
	}
	s.timeouts = conntimeout.New(conntimeout.Config{
		Read: cfg.Server.ReadTimeout, Write: cfg.Server.WriteTimeout, Idle: cfg.Server.IdleTimeout})
	s.public = &fasthttp.Server{
		Handler:            s.handle,
		ErrorHandler:       s.handleServerError,
		Name:               "tiercel",
		MaxRequestBodySize: cfg.Server.MaxBodyBytes,
		ReadBufferSize:     cfg.Server.MaxHeaderBytes,
		Concurrency:        cfg.Server.MaxConcurrency,
		CloseOnShutdown:    true,
		Logger:             slogPrintf{logger},
	}
	if s.admin, err = s.newAdmin(); err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

func (s *Server) buildRoutes() error {
	for i, rc := range s.cfg.Routes {
		rt := &route{
			name:     rc.Name,
			timeout:  rc.Timeout,
			authMode: rc.Auth.Mode,
			scopes:   rc.Auth.Scopes,
			pool:     s.pools[rc.Upstream],
			metrics:  s.metrics.route(rc.Name),
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
			h, err := s.limiter.Route(rc.Name, rc.RateLimit)
			if err != nil {
				return fmt.Errorf("routes[%d].rate_limit: %w", i, err)
			}
			rt.limit = h
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

// Start checks that Redis (when reachable) runs in the configured mode,
// then opens both listeners and serves in the background.
func (s *Server) Start() error {
	if s.rconn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), max(2*s.cfg.Redis.DialTimeout, time.Second))
		err := s.rconn.Check(ctx)
		cancel()
		if err != nil {
			return fmt.Errorf("cannot use redis: %w", err)
		}
	}
	ln, err := net.Listen("tcp", s.cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("cannot listen on server.listen %s: %w", s.cfg.Server.Listen, err)
	}
	adminL, err := s.listenAdmin()
	if err != nil {
		ln.Close()
		return err
	}
	s.ln, s.adminL = ln, adminL
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		if err := s.public.Serve(s.timeouts.Listener(ln)); err != nil {
			s.log.Error("public listener stopped", "error", err)
		}
	}()
	go func() {
		defer s.wg.Done()
		if err := s.admin.Serve(adminL); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("admin listener stopped", "error", err)
		}
	}()
	s.log.Info("tiercel listening", "listen", ln.Addr().String(), "admin", adminL.Addr().String(), "routes", len(s.routes))
	return nil
}

// Addr is the public listener's address (useful with port 0).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// AdminAddr is the admin listener's address.
func (s *Server) AdminAddr() string { return s.adminL.Addr().String() }

// Shutdown stops accepting, lets in-flight requests finish until ctx ends,
// then closes every component. /readyz answers 503 from the first moment so
// load balancers stop sending.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	s.closed.Do(func() {
		s.draining.Store(true)
		if s.ln != nil {
			err = s.public.ShutdownWithContext(ctx)
		}
		if s.adminL != nil {
			actx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = s.admin.Shutdown(actx)
			cancel()
		}
		s.wg.Wait()
		// Before the producer and the cache close: events of writes
		// already answered are still being published.
		s.detached.close(ctx)
		s.closeComponents()
	})
	return err
}

func (s *Server) closeComponents() {
	if s.timeouts != nil {
		s.timeouts.Close()
	}
	if s.producer != nil {
		_ = s.producer.Close()
	}
	if s.consumer != nil {
		// First: it applies events to the components closed below.
		_ = s.consumer.Close()
	}
	if s.features != nil {
		s.features.Close()
	}
	if s.cache != nil {
		s.cache.Close()
	}
	for _, p := range s.pools {
		p.Close()
	}
	if s.limiter != nil {
		s.limiter.Close()
	}
	if s.verifier != nil {
		s.verifier.Close()
	}
	if s.rconn != nil {
		_ = s.rconn.Close()
	}
}

// slogPrintf adapts slog to fasthttp's Printf logger.
type slogPrintf struct{ l *slog.Logger }

func (p slogPrintf) Printf(format string, args ...any) {
	p.l.Warn(fmt.Sprintf(format, args...), "component", "fasthttp")
}
