package gateway

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// newAdmin builds the admin server behind its guard (adminauth.go).
func (s *Server) newAdmin() (*http.Server, error) {
	a := s.cfg.Server.Admin
	creds, err := a.load(s.cfg.Server.AdminListen)
	if err != nil {
		return nil, fmt.Errorf("cannot set up the admin listener: %w", err)
	}
	s.adminGuarded = creds.any()
	if !s.adminGuarded && !isLoopbackListen(s.cfg.Server.AdminListen) {
		s.log.Warn("the admin listener can be reached from other hosts and needs no credential (server.admin.insecure): "+
			"anyone who reaches it can invalidate the cache and read profiles", "admin_listen", s.cfg.Server.AdminListen)
	}
	return &http.Server{Handler: newAdminGuard(a, creds, s.adminMux(a.Pprof == nil || *a.Pprof)),
		ReadHeaderTimeout: 5 * time.Second, TLSConfig: creds.tls}, nil
}

// listenAdmin opens the admin listener, over TLS when configured. An open
// listener must have bound to loopback: "localhost" is the system's to
// resolve.
func (s *Server) listenAdmin() (net.Listener, error) {
	addr := s.cfg.Server.AdminListen
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on server.admin_listen %s: %w", addr, err)
	}
	if !s.adminGuarded && !s.cfg.Server.Admin.Insecure && !isLoopbackAddr(ln.Addr()) {
		ln.Close()
		return nil, fmt.Errorf("cannot listen on server.admin_listen %s: it bound to %s, not loopback, and server.admin has no credential", addr, ln.Addr())
	}
	if s.admin.TLSConfig != nil {
		ln = tls.NewListener(ln, s.admin.TLSConfig)
	}
	return ln, nil
}

// adminMux serves the operator endpoints. It runs on its own listener, with
// net/http: none of it is a hot path, and pprof and promhttp speak net/http.
func (s *Server) adminMux(pprofOn bool) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	mux.HandleFunc("GET /readyz", s.handleReady)
	mux.HandleFunc("POST /admin/invalidate", s.handleInvalidate)
	mux.HandleFunc("POST /admin/reload", s.handleReload)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	if !pprofOn {
		return mux
	}
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// Check is one dependency's line in /readyz.
type Check struct {
	// Status is ok, degraded (serving, with less: e.g. local rate limits
	// while Redis is down) or down (this dependency cannot be used at all).
	Status string `json:"status"`
	Detail any    `json:"detail,omitempty"`
}

// Readiness is the /readyz document.
type Readiness struct {
	// Status is ready, degraded or not_ready (draining, a route has nothing
	// left to serve from, or an issuer has no key its tokens could verify
	// with).
	Status string           `json:"status"`
	Checks map[string]Check `json:"checks"`
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 500*time.Millisecond)
	defer cancel()
	rd := s.Readiness(ctx)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if rd.Status == "not_ready" {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(rd)
}

// Readiness reports every dependency. A degraded dependency keeps the
// gateway ready: it still answers, with less. An issuer without keys does
// not: every request carrying its tokens would get a 401, so traffic had
// better go to a replica that has them.
func (s *Server) Readiness(ctx context.Context) Readiness { return s.current().readiness(ctx) }

func (s *generation) readiness(ctx context.Context) Readiness {
	rd := Readiness{Status: "ready", Checks: map[string]Check{}}
	worst := func(c Check) {
		switch {
		case c.Status == "down" || c.Status == "degraded":
			if rd.Status == "ready" {
				rd.Status = "degraded"
			}
		}
	}
	if s.redis != nil {
		h := s.rconn.Health(ctx)
		c := Check{Status: h.Status, Detail: h}
		rd.Checks["redis"] = c
		worst(c)
		rl := Check{Status: "ok", Detail: "breaker " + s.limiter.RedisState()}
		if s.limiter.RedisState() != "closed" {
			rl.Status = "degraded"
			rl.Detail = "cluster-wide limits answered locally: breaker " + s.limiter.RedisState()
		}
		rd.Checks["ratelimit"] = rl
		worst(rl)
	}
	if s.cache != nil {
		c := Check{Status: "ok", Detail: "two tiers"}
		switch st := s.cache.L2State(); st {
		case "disabled":
			c.Detail = "L1 only: no redis configured"
		case "closed":
		default:
			c = Check{Status: "degraded", Detail: "L1 only while Redis is failing: breaker " + st}
		}
		rd.Checks["cache_l2"] = c
		worst(c)
	}
	if c, ok := s.kafkaCheck(); ok {
		rd.Checks["kafka"] = c
		worst(c)
	}
	for k, c := range s.authChecks() {
		rd.Checks[k] = c
		worst(c)
		if c.Status == "down" {
			rd.Status = "not_ready"
		}
	}
	for k, c := range s.upstreamChecks() {
		rd.Checks[k] = c
		worst(c)
	}
	for k, c := range s.featureChecks() {
		rd.Checks[k] = c
		worst(c)
	}
	if s.draining.Load() {
		rd.Status = "not_ready"
		rd.Checks["server"] = Check{Status: "down", Detail: "draining for shutdown"}
	}
	return rd
}
