package gateway

import (
	"errors"
	"fmt"
	"net"

	"slices"
	"strings"
	"time"

	"github.com/tiercel/tiercel/cache"
	"github.com/tiercel/tiercel/features"
	"github.com/tiercel/tiercel/gateway/auth"
	"github.com/tiercel/tiercel/gateway/ratelimit"
	"github.com/tiercel/tiercel/gateway/router"
	"github.com/tiercel/tiercel/gateway/upstream"
	"github.com/tiercel/tiercel/internal/defaults"
	"github.com/tiercel/tiercel/internal/redisconn"
	"github.com/tiercel/tiercel/internal/tracing"
	"github.com/tiercel/tiercel/invalidation"
)

// Config is the root of Tiercel's YAML config file. Each section belongs to
// the package that uses it; this struct only routes to them and checks the
// references between them.
type Config struct {
	Server    ServerConfig     `yaml:"server"`
	Log       LogConfig        `yaml:"log"`
	Redis     RedisConfig      `yaml:"redis"`
	Auth      auth.Config      `yaml:"auth"`
	RateLimit ratelimit.Config `yaml:"rate_limit"`
	Cache     cache.Config     `yaml:"cache"`
	Features  features.Config  `yaml:"features"`
	// Kafka is the invalidation stream; no brokers: invalidation only
	// through POST /admin/invalidate.
	Kafka     invalidation.Config `yaml:"kafka"`
	Upstreams []upstream.Config   `yaml:"upstreams"`
	Routes    []RouteConfig       `yaml:"routes"`
	// Tracing exports OpenTelemetry spans (docs/tracing.md); off by
	// default.
	Tracing tracing.Config `yaml:"tracing"`
}

// ServerConfig sets the listeners and the limits every request shares.
type ServerConfig struct {
	// Listen is the public listener; default ":8080".
	Listen string `yaml:"listen"`
	// AdminListen serves /healthz, /readyz, /metrics, /debug/pprof and
	// /admin/*; default "127.0.0.1:8081", loopback: any other address
	// needs a credential in Admin (or admin.insecure).
	AdminListen string `yaml:"admin_listen"`
	// Admin guards the admin listener's endpoints (adminconfig.go).
	Admin AdminConfig `yaml:"admin"`
	// ReadTimeout bounds reading one request (headers and body) from its
	// first byte, and a new connection's wait for it: the slowloris guard;
	// default 5s.
	//
	// The three timeouts are enforced by a sweeper (conntimeout), not by
	// socket deadlines re-armed per request, which cost ~10% of a cache
	// hit's CPU (scripts/bench-ab.sh, fasthttp's timeouts on and off:
	// bench/results/2026-11-22-perf/perf-ab.md): each fires within a
	// twentieth of the shortest of them (at most 250ms) of its value.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds writing one response; default 5s.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout closes keep-alive connections idle this long; default 60s.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxBodyBytes rejects larger request bodies with 413; default 1 MiB.
	MaxBodyBytes int `yaml:"max_body_bytes"`
	// MaxHeaderBytes bounds the request line plus headers (431 beyond it);
	// default 16 KiB, room for auth.max_token_bytes and ordinary headers.
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// MaxConcurrency caps connections served at once; default 256k.
	MaxConcurrency int `yaml:"max_concurrency"`
	// MaxInFlight bounds the requests being worked on after routing and
	// authentication (default 0: no bound). Beyond it a request is answered
	// at once from L1 (fresh or stale), the route's fallback, or a 503 with
	// Retry-After: 1, and never queued: a queue would answer everyone late.
	// Size it from a load test: a little above the concurrency at the
	// highest rate whose p99 is still inside the budget.
	MaxInFlight int `yaml:"max_in_flight"`
	// DefaultTimeout is a route's end-to-end budget unless it sets its own;
	// default 100ms.
	DefaultTimeout time.Duration `yaml:"default_timeout"`
	// DrainDelay is how long, on SIGTERM, the gateway goes on accepting and
	// serving while /readyz answers 503, before it stops accepting: the
	// time load balancers need to see it fail a few health checks and
	// Kubernetes to take it out of its Service's endpoints. Closing the
	// listener sooner refuses the connections they still send. Default
	// 5s; negative: no delay, for a gateway no balancer sends to. At most
	// 5m.
	DrainDelay time.Duration `yaml:"drain_delay"`
	// ShutdownTimeout bounds draining in-flight requests once the drain
	// delay is over; default 10s. A pod's terminationGracePeriodSeconds
	// must exceed drain_delay + shutdown_timeout.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// EscapedSlashes says what a path's %2F, %5C or raw backslash gets:
	// "reject" (default: 400 bad_path) or "keep" (data inside a segment,
	// forwarded encoded). Keep them only when no origin decodes them into
	// separators after the gateway has routed the path.
	EscapedSlashes string `yaml:"escaped_slashes"`
}

// LogConfig selects the log/slog output.
type LogConfig struct {
	// Level is debug, info (default), warn or error.
	Level string `yaml:"level"`
	// Format is text (default) or json.
	Format string `yaml:"format"`
	// Access logs one line per request. Off by default: at 200k req/s a log
	// line per request costs more than the request.
	Access bool `yaml:"access"`
	// AccessFormat is text (a slog record through the logger), json (one
	// JSON object per line) or common (the NCSA Combined Log Format with
	// Tiercel's fields appended: docs/logs.md); default: format.
	AccessFormat string `yaml:"access_format"`
	// AccessQuery adds the query string to the logged path. Off by
	// default: query strings carry tokens, e-mail addresses and signatures
	// into files kept longer than any of them.
	AccessQuery bool `yaml:"access_query"`
}

// RedisConfig is the shared Redis used for cluster-wide rate limits, the
// L2 cache, redis feature views and last-good predictions: a single node,
// a Redis Cluster or a Sentinel-managed primary (internal/redisconn).
type RedisConfig = redisconn.Config

// RouteConfig is one entry of the route table.
type RouteConfig struct {
	// Name labels metrics and logs; default "METHOD path" of the first method.
	Name string `yaml:"name"`
	// Path is a pattern: /api/products/{id}, /static/{path...}.
	Path string `yaml:"path"`
	// Methods accepted; default [GET, HEAD].
	Methods []string `yaml:"methods"`
	// Upstream names the pool requests are proxied to. A route has an
	// upstream or a handler, never both.
	Upstream string `yaml:"upstream"`
	// Handler names a built-in handler instead of an upstream (see
	// builtinHandlers: the feature and prediction endpoints).
	Handler string `yaml:"handler"`
	// Timeout is the end-to-end budget; default server.default_timeout.
	Timeout time.Duration `yaml:"timeout"`
	// Auth is the route's authentication policy.
	Auth RouteAuth `yaml:"auth"`
	// RateLimit names a rate_limit.policies entry; empty: not limited.
	RateLimit string `yaml:"rate_limit"`
	// Cache stores the route's GET/HEAD responses (see RouteCache).
	Cache RouteCache `yaml:"cache"`
	// InvalidateTags are tag templates ("product:{id}") invalidated, in this
	// replica's L1 and in L2, when a request on this route succeeds (2xx)
	// with a method other than GET/HEAD: a write through the gateway drops
	// what it changed. Other replicas learn of it from an invalidation event.
	InvalidateTags []string `yaml:"invalidate_tags"`
	// Fallback is the declared default answer for GET/HEAD when the origin
	// fails and no stale copy is usable (see RouteFallback).
	Fallback *RouteFallback `yaml:"fallback"`
	// Headers drops per-request response headers the route's clients do
	// not read (see RouteHeaders); default: all are sent.
	Headers RouteHeaders `yaml:"headers"`
}

// RouteHeaders turns off informational response headers. Each is written
// on every response: on an L1 hit the two cost ~0.4µs of ~14µs of server
// CPU (3%), and 160 bytes (scripts/bench-ab.sh, both on and both off:
// bench/results/2026-11-22-perf/perf-ab.md).
type RouteHeaders struct {
	// OmitServerTiming drops Server-Timing, and the clock reads per stage
	// that feed it.
	OmitServerTiming bool `yaml:"omit_server_timing"`
	// OmitRateLimit drops RateLimit-Limit, -Remaining and -Reset from
	// admitted requests; a 429 still carries them and Retry-After.
	OmitRateLimit bool `yaml:"omit_rate_limit"`
}

// RouteAuth says who may call a route.
type RouteAuth struct {
	// Mode is required (default), optional (a token is checked if present) or
	// none.
	Mode string `yaml:"mode"`
	// Scopes must all be granted by the token (403 otherwise).
	Scopes []string `yaml:"scopes"`
}

const (
	authRequired = "required"
	authOptional = "optional"
	authNone     = "none"
)

// maxDrainDelay bounds server.drain_delay: endpoint propagation takes
// seconds, so a longer delay is most likely a unit typo (5m for 5s).
const maxDrainDelay = 5 * time.Minute

// SetDefaults fills zero values with the documented defaults.
func (c *Config) SetDefaults() {
	s := &c.Server
	defaults.Set(&s.Listen, ":8080")
	defaults.Set(&s.AdminListen, "127.0.0.1:8081")
	s.Admin.setDefaults()
	defaults.Set(&s.ReadTimeout, 5*time.Second)
	defaults.Set(&s.WriteTimeout, 5*time.Second)
	defaults.Set(&s.IdleTimeout, 60*time.Second)
	defaults.Set(&s.MaxBodyBytes, 1<<20)
	defaults.Set(&s.MaxHeaderBytes, 16<<10)
	defaults.Set(&s.MaxConcurrency, 256*1024)
	defaults.Set(&s.DefaultTimeout, 100*time.Millisecond)
	defaults.Set(&s.DrainDelay, 5*time.Second)
	defaults.Set(&s.ShutdownTimeout, 10*time.Second)
	defaults.Set(&s.EscapedSlashes, "reject")
	defaults.Set(&c.Log.Level, "info")
	defaults.Set(&c.Log.Format, "text")
	defaults.Set(&c.Log.AccessFormat, c.Log.Format)
	c.Redis.SetDefaults()
	c.Tracing.SetDefaults()
	for i := range c.Routes {
		r := &c.Routes[i]
		if len(r.Methods) == 0 {
			r.Methods = []string{"GET", "HEAD"}
		}
		for j, m := range r.Methods {
			r.Methods[j] = strings.ToUpper(m)
		}
		defaults.Set(&r.Name, r.Methods[0]+" "+r.Path)
		defaults.Set(&r.Timeout, s.DefaultTimeout)
		defaults.Set(&r.Auth.Mode, authRequired)
		r.Cache.setDefaults()
		r.Fallback.setDefaults()
	}
}

// Validate checks c after SetDefaults. Errors name the field's path.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	s := c.Server
	for name, addr := range map[string]string{"server.listen": s.Listen, "server.admin_listen": s.AdminListen} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			add("%s: invalid address %q", name, addr)
		}
	}
	if s.Listen == s.AdminListen && !strings.HasSuffix(s.Listen, ":0") {
		add("server.admin_listen: must differ from server.listen")
	}
	if _, err := s.Admin.load(s.AdminListen); err != nil {
		errs = append(errs, err)
	}
	if s.DrainDelay > maxDrainDelay {
		add("server.drain_delay: %s is longer than %s: every rollout would wait it per replica", s.DrainDelay, maxDrainDelay)
	}
	if s.ShutdownTimeout <= 0 {
		add("server.shutdown_timeout: must be > 0")
	}
	if s.MaxInFlight < 0 {
		add("server.max_in_flight: must be >= 0")
	}
	if !oneOf(s.EscapedSlashes, "reject", "keep") {
		add("server.escaped_slashes: %q is not one of reject, keep", s.EscapedSlashes)
	}
	if s.MaxBodyBytes < 0 {
		add("server.max_body_bytes: must be >= 0")
	}
	if s.MaxHeaderBytes < 4096 {
		add("server.max_header_bytes: must be >= 4096")
	}
	if !oneOf(c.Log.Level, "debug", "info", "warn", "error") {
		add("log.level: %q is not one of debug, info, warn, error", c.Log.Level)
	}
	if !oneOf(c.Log.Format, "text", "json") {
		add("log.format: %q is not one of text, json", c.Log.Format)
	}
	if !oneOf(c.Log.AccessFormat, "text", "json", "common") {
		add("log.access_format: %q is not one of text, json, common", c.Log.AccessFormat)
	}
	if err := c.Redis.Validate(); err != nil {
		errs = append(errs, err)
	}
	// A gateway whose routes are all open needs no issuer; a route that
	// needs one says so below.
	// LoadKeys reads the key files as the verifier will: a key file
	// that is missing or malformed is refused here, by validate as by serve.
	if len(c.Auth.Issuers) > 0 {
		errs = append(errs, prefixEach("auth.", c.Auth.LoadKeys())...)
	}
	errs = append(errs, prefixEach("rate_limit.", c.RateLimit.Validate())...)
	errs = append(errs, prefixEach("cache.", c.Cache.Validate())...)
	errs = append(errs, prefixEach("features.", c.Features.Validate())...)
	errs = append(errs, prefixEach("tracing.", c.Tracing.Validate())...)
	if len(c.Kafka.Brokers) > 0 {
		errs = append(errs, prefixEach("kafka.", c.Kafka.Validate())...)
	}
	pools := map[string]bool{}
	for i := range c.Upstreams {
		u := &c.Upstreams[i]
		errs = append(errs, prefixEach(fmt.Sprintf("upstreams[%d].", i), u.Validate())...)
		if pools[u.Name] {
			add("upstreams[%d].name: %q defined twice", i, u.Name)
		}
		pools[u.Name] = true
	}
	errs = append(errs, c.validateRoutes(pools)...)
	return errors.Join(errs...)
}

func (c *Config) validateRoutes(pools map[string]bool) []error {
	var errs []error
	var rt router.Router
	names := map[string]bool{}
	for i, r := range c.Routes {
		add := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("routes[%d].%s", i, fmt.Sprintf(format, args...)))
		}
		if names[r.Name] {
			add("name: %q defined twice", r.Name)
		}
		names[r.Name] = true
		for _, m := range r.Methods {
			if err := rt.Add(m, r.Path, i); err != nil {
				add("path: %v", err)
			}
		}
		switch {
		case r.Upstream != "" && r.Handler != "":
			add("handler: a route has an upstream or a handler, not both")
		case r.Handler != "":
			if _, ok := builtinHandlers[r.Handler]; !ok {
				add("handler: unknown handler %q (known: %s)", r.Handler, handlerNames())
			}
			if r.Cache.Enabled {
				add("cache.enabled: built-in handlers cache internally; remove the cache block")
			}
			if msg := builtinNeeds(r.Handler, r.Path, &c.Features); msg != "" {
				add("handler: %s", msg)
			}
		case r.Upstream == "":
			add("upstream: required (or a handler)")
		case !pools[r.Upstream]:
			add("upstream: no upstream named %q", r.Upstream)
		}
		if r.Timeout <= 0 {
			add("timeout: must be > 0")
		}
		if !oneOf(r.Auth.Mode, authRequired, authOptional, authNone) {
			add("auth.mode: %q is not one of required, optional, none", r.Auth.Mode)
		}
		if r.Auth.Mode != authNone && len(c.Auth.Issuers) == 0 {
			add("auth.mode: %s needs at least one auth.issuers entry", r.Auth.Mode)
		}
		if r.Auth.Mode == authNone && len(r.Auth.Scopes) > 0 {
			add("auth.scopes: scopes need auth.mode required or optional")
		}
		if r.RateLimit != "" {
			if _, ok := c.RateLimit.Policies[r.RateLimit]; !ok {
				add("rate_limit: no rate_limit.policies entry named %q", r.RateLimit)
			}
		}
		for _, e := range r.Cache.validate(pathParams(r.Path)) {
			add("%s", e)
		}
		for _, e := range r.Fallback.validate() {
			add("%s", e)
		}
		if r.Fallback != nil && r.Handler != "" {
			add("fallback: built-in handlers have their own defaults (feature defaults, model defaults)")
		}
		for j, tmpl := range r.InvalidateTags {
			if _, err := compileTemplate(tmpl, pathParams(r.Path)); err != nil {
				add("invalidate_tags[%d]: %v", j, err)
			}
		}
		if r.Cache.Enabled && !slices.ContainsFunc(r.Methods, func(m string) bool { return m == "GET" || m == "HEAD" || m == "*" }) {
			add("cache.enabled: only GET and HEAD responses are cached, and the route has neither")
		}
	}
	return errs
}

// usesFeatures reports whether the config serves features or predictions.
func (c *Config) usesFeatures() bool {
	for _, r := range c.Routes {
		if r.Handler != "" {
			return true
		}
	}
	return len(c.Features.Views) > 0 || len(c.Features.Models) > 0
}

func (c *Config) invalidatingRoutes() bool {
	for _, r := range c.Routes {
		if len(r.InvalidateTags) > 0 {
			return true
		}
	}
	return false
}

func (c *Config) cachedRoutes() int {
	n := 0
	for _, r := range c.Routes {
		if r.Cache.Enabled {
			n++
		}
	}
	return n
}

// prefixEach puts prefix in front of each of err's joined errors, at any
// depth: a section's Validate may join its parts' own joined errors.
func prefixEach(prefix string, err error) []error {
	if err == nil {
		return nil
	}
	if parts := joined(err); parts != nil {
		var out []error
		for _, e := range parts {
			out = append(out, prefixEach(prefix, e)...)
		}
		return out
	}
	return []error{fmt.Errorf("%s%w", prefix, err)}
}

// joined returns the errors err joins (errors.Join), nil for any other
// error: one message wrapping two errors (fmt.Errorf with two %w) is one
// problem.
func joined(err error) []error {
	m, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return nil
	}
	parts := m.Unwrap()
	msgs := make([]string, len(parts))
	for i, e := range parts {
		msgs[i] = e.Error()
	}
	if strings.Join(msgs, "\n") != err.Error() {
		return nil
	}
	return parts
}

func oneOf(v string, allowed ...string) bool {
	for _, a := range allowed {
		if v == a {
			return true
		}
	}
	return false
}
