package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"

	"github.com/tiercel/tiercel/gateway/conntimeout"
	"github.com/tiercel/tiercel/internal/buildinfo"
	"github.com/tiercel/tiercel/internal/redisconn"
	"github.com/tiercel/tiercel/internal/tracing"
	"github.com/tiercel/tiercel/invalidation"
)

// Server is a running gateway: the public fasthttp listener, the admin
// listener and the components the routes use.
type Server struct {
	// cfg is the config the process started with: the restart-only
	// settings (reload.go) are read from it. What requests read is in the
	// current generation.
	cfg Config
	log *slog.Logger

	// gen is the current generation (generation.go): each request loads it
	// once and finishes on it, whatever a reload swaps in meanwhile.
	gen atomic.Pointer[generation]
	// reload serialises reloads and holds what they keep (reload.go).
	reload reloader

	unrouted *routeMetrics
	rconn    *redisconn.Conn       // nil without Redis
	redis    redis.UniversalClient // rconn.Client, or nil
	consumer *invalidation.Consumer
	applier  *applier
	producer *invalidation.Producer // publishes write invalidations to other replicas
	// detached runs what a write's invalidation must finish after the
	// write is answered (unsafemethods.go).
	detached *detached
	pass     passSet
	ids      *requestIDs
	// tracer makes the request spans; nil with tracing off, and every use
	// is behind that nil check: an L1 hit must not allocate.
	tracer  *tracing.Provider
	metrics *metrics
	stats   serverStats
	// accessOut receives access log lines in the json and common formats.
	accessOut lineWriter

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

	// draining: Shutdown has begun, /readyz answers 503. closing: the
	// drain delay is over, every response asks for its connection to be
	// closed.
	draining atomic.Bool
	closing  atomic.Bool
	// inFlight counts admitted requests when server.max_in_flight is set.
	inFlight atomic.Int64
	// watchStop ends watchReadiness (readywatch.go); watchEvery is its
	// period; watchRounds counts its rounds, so a test can wait for one.
	watchStop   chan struct{}
	watchEvery  time.Duration
	watchRounds atomic.Uint64
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
	s := &Server{cfg: cfg, log: logger, ids: newRequestIDs(), detached: newDetached(),
		accessOut: lineWriter{w: os.Stderr}, watchStop: make(chan struct{}), watchEvery: readyWatchEvery}
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
	if s.tracer, err = tracing.New(context.Background(), cfg.Tracing, buildinfo.Get().Version); err != nil {
		return nil, fmt.Errorf("cannot set up tracing: %w", err)
	}
	s.metrics = newMetrics()
	s.unrouted = s.metrics.route("-")
	g, err := s.build(cfg, nil)
	if err != nil {
		return nil, err
	}
	s.gen.Store(g)
	s.reload.lastOK.Store(time.Now().Unix())
	s.metrics.reg.MustRegister(&statsCollector{s: s}, buildInfoGauge())
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

// current is the generation requests now start on.
func (s *Server) current() *generation { return s.gen.Load() }

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
		if err := s.public.Serve(s.timeouts.Listener(ln)); err != nil && !errors.Is(err, net.ErrClosed) {
			s.log.Error("public listener stopped", "error", err)
		}
	}()
	go func() {
		defer s.wg.Done()
		if err := s.admin.Serve(adminL); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("admin listener stopped", "error", err)
		}
	}()
	s.wg.Go(func() { s.watchReadiness(s.watchStop, s.watchEvery) })
	s.log.Info("tiercel listening", "listen", ln.Addr().String(), "admin", adminL.Addr().String(), "routes", len(s.current().routes))
	return nil
}

// Addr is the public listener's address (useful with port 0).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// AdminAddr is the admin listener's address.
func (s *Server) AdminAddr() string { return s.adminL.Addr().String() }

// Shutdown takes the replica out of rotation, in the order a load balancer
// needs (docs/degradation.md, "Rollouts and scale-in"), then closes every
// component:
//
//  1. /readyz answers 503 at once, while the public listener goes on
//     accepting and serving for server.drain_delay: balancers and
//     Kubernetes endpoints take that long to stop sending, and a refused
//     connection before then is a failed request;
//  2. then the listener closes, idle keep-alive connections are closed, and
//     the responses still to be written carry Connection: close;
//  3. in-flight requests finish until ctx ends.
//
// ctx bounds all of it: give it drain_delay + shutdown_timeout.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	s.closed.Do(func() {
		s.draining.Store(true)
		if s.ln != nil {
			s.waitDrainDelay(ctx)
			s.closing.Store(true)
			err = s.public.ShutdownWithContext(ctx)
			// fasthttp closes only the listeners Serve has registered: a
			// Shutdown that came first would leave Serve accepting for ever
			// (and wg.Wait below waiting for it).
			_ = s.ln.Close()
		}
		if s.adminL != nil {
			// After the public listener: /readyz goes on answering 503 to
			// the balancers' checks until the last request is answered.
			actx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = s.admin.Shutdown(actx)
			cancel()
		}
		close(s.watchStop)
		s.wg.Wait()
		// Before the producer and the cache close: events of writes
		// already answered are still being published.
		s.detached.close(ctx)
		s.closeComponents()
	})
	return err
}

// waitDrainDelay waits server.drain_delay, or until ctx ends.
func (s *Server) waitDrainDelay(ctx context.Context) {
	d := s.cfg.Server.DrainDelay
	if d <= 0 {
		return
	}
	s.log.Info("draining: not ready, still serving until the balancers stop sending", "drain_delay", d)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	s.log.Info("draining: no new connections, finishing in-flight requests")
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
		s.consumer.Close()
	}
	// Generations a reload replaced, whose grace has not run out, then
	// the current one.
	s.reload.closeRetired()
	if g := s.current(); g != nil {
		g.parts().close()
	}
	if s.rconn != nil {
		_ = s.rconn.Close()
	}
	if s.tracer != nil {
		// Last: spans of requests that ended above are still queued. A
		// collector that is down holds the exit at most this long.
		ctx, cancel := context.WithTimeout(context.Background(), tracingShutdownTimeout)
		if err := s.tracer.Shutdown(ctx); err != nil {
			s.log.Warn("tracing: spans not exported at shutdown", "error", err)
		}
		cancel()
	}
}

// slogPrintf adapts slog to fasthttp's Printf logger.
type slogPrintf struct{ l *slog.Logger }

func (p slogPrintf) Printf(format string, args ...any) {
	p.l.Warn(fmt.Sprintf(format, args...), "component", "fasthttp")
}
