package upstream

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tiercel/tiercel/internal/breaker"
	"github.com/tiercel/tiercel/internal/defaults"
)

// Config describes one pool of interchangeable upstream targets.
// Zero values mean the documented defaults.
type Config struct {
	// Name identifies the pool in logs and in Status.
	Name string `yaml:"name"`

	// Targets are "host:port", "http://host:port" or "https://host:port".
	// The port is required: a silently assumed port hides typos.
	Targets []string `yaml:"targets"`

	// Balance is "round_robin" (default) or "least_loaded", which sends each
	// request to the target with the fewest requests in flight; prefer it when
	// response times vary widely between requests or targets.
	Balance string `yaml:"balance"`

	// MaxConnsPerTarget bounds the connections to each target (default 512).
	// When a target has none free, the request fails over like a connection
	// failure instead of queueing, so size it above the expected concurrency.
	MaxConnsPerTarget int `yaml:"max_conns_per_target"`

	// DialTimeout bounds connection establishment (default 1s), so that an
	// unreachable target leaves time to retry another one. The request
	// deadline still caps it.
	DialTimeout time.Duration `yaml:"dial_timeout"`

	// IdleConnTimeout closes keep-alive connections idle for this long
	// (default 4s). Keep it below the targets' own keep-alive timeout (5s in
	// Node.js, 60s+ in nginx) so that the pool, not the target, closes idle
	// connections; otherwise a request can race a close and fail.
	IdleConnTimeout time.Duration `yaml:"idle_conn_timeout"`

	// Retries is the number of extra attempts (default 1, at most 8)
	// made for idempotent requests after a connection failure,
	// each on a target not tried yet for this request when there is one.
	// Use a negative value to disable retries.
	Retries int `yaml:"retries"`

	HealthCheck HealthCheck `yaml:"health_check"`

	// MaxResponseBytes bounds a response body (default 32 MiB): a larger one
	// fails with ErrUnavailable instead of being buffered, so one broken or
	// hostile upstream cannot exhaust the gateway's memory.
	MaxResponseBytes int `yaml:"max_response_bytes"`

	// Breaker is each target's circuit breaker: Failures consecutive failed
	// requests (connection failures, timeouts, 5xx responses) open it
	// (default 5; negative: no breaker); for Cooldown (default 5s) it then
	// sends nothing, then lets one probe request through, which closes it
	// if it succeeds.
	Breaker breaker.Config `yaml:"breaker"`

	// MaxInFlight bounds the requests outstanding to the whole pool
	// (default 1024). Beyond it a request fails at once with ErrOverloaded
	// instead of queueing, so the caller can answer from cache or its
	// fallback inside the budget. Negative means no bound.
	MaxInFlight int `yaml:"max_in_flight"`

	// HedgeAfter, when set, sends an idempotent request that has not been
	// answered after this long to a second target as well; the first
	// response wins. It trades upstream load for tail latency: set it near
	// the targets' p95. Needs at least two targets; 0 (default) is off.
	HedgeAfter time.Duration `yaml:"hedge_after"`
}

// HealthCheck configures when targets are skipped and when they return.
// Connection failures of real requests always count (passive checks);
// probing is active only when Path is set.
type HealthCheck struct {
	// Path is probed with GET on every target; any 2xx or 3xx status is a
	// success. Empty means passive health only: an unhealthy target then gets
	// one trial request every Interval, and returns when one succeeds.
	Path string `yaml:"path"`

	// Interval between probes, or between trials in passive mode (default 5s).
	Interval time.Duration `yaml:"interval"`

	// Timeout of one probe (default 1s); at most Interval when probing.
	Timeout time.Duration `yaml:"timeout"`

	// UnhealthyAfter consecutive failures (probes or connection failures of
	// real requests) mark a target unhealthy (default 3).
	UnhealthyAfter int `yaml:"unhealthy_after"`

	// HealthyAfter consecutive successful probes bring it back (default 2).
	HealthyAfter int `yaml:"healthy_after"`
}

// maxRetries bounds Retries: beyond a few attempts a request is better
// answered with an error than kept waiting, and the bound keeps the set of
// tried targets in a fixed-size array.
const maxRetries = 8

const (
	balanceRoundRobin  = "round_robin"
	balanceLeastLoaded = "least_loaded"
)

// withDefaults returns a copy of c with zero values replaced by defaults.
func (c Config) withDefaults() Config {
	defaults.Set(&c.Balance, balanceRoundRobin)
	defaults.Set(&c.MaxConnsPerTarget, 512)
	defaults.Set(&c.DialTimeout, time.Second)
	defaults.Set(&c.IdleConnTimeout, 4*time.Second)
	switch {
	case c.Retries == 0:
		c.Retries = 1
	case c.Retries < 0:
		c.Retries = 0
	}
	h := &c.HealthCheck
	defaults.Set(&h.Interval, 5*time.Second)
	defaults.Set(&h.Timeout, time.Second)
	defaults.Set(&h.UnhealthyAfter, 3)
	defaults.Set(&h.HealthyAfter, 2)
	c.Breaker = c.Breaker.Or(breaker.Config{Failures: breaker.DefaultFailures, Cooldown: 5 * time.Second})
	defaults.Set(&c.MaxInFlight, 1024)
	defaults.Set(&c.MaxResponseBytes, 32<<20)
	return c
}

// Validate reports every invalid field, each named by its yaml path
// relative to Config.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(c.Targets) == 0 {
		add("targets: at least one target is required")
	}
	for i, s := range c.Targets {
		if _, err := parseTarget(s); err != nil {
			add("targets[%d]: %w", i, err)
		}
		if j := slices.Index(c.Targets[:i], s); j >= 0 {
			add("targets[%d]: duplicate of targets[%d] %q", i, j, s)
		}
	}
	switch c.Balance {
	case "", balanceRoundRobin, balanceLeastLoaded:
	default:
		add("balance: unknown policy %q (want %s or %s)", c.Balance, balanceRoundRobin, balanceLeastLoaded)
	}
	if c.Retries > maxRetries {
		add("retries: %d is more than %d", c.Retries, maxRetries)
	}
	errs = append(errs, negatives("", []field{
		{"max_conns_per_target", int64(c.MaxConnsPerTarget)},
		{"dial_timeout", int64(c.DialTimeout)},
		{"idle_conn_timeout", int64(c.IdleConnTimeout)},
		{"hedge_after", int64(c.HedgeAfter)},
		{"max_response_bytes", int64(c.MaxResponseBytes)},
	})...)
	errs = append(errs, c.Breaker.Validate("breaker"))
	errs = append(errs, c.HealthCheck.validate("health_check.")...)
	return errors.Join(errs...)
}

// validate reports h's problems, each path prefixed with prefix.
func (h HealthCheck) validate(prefix string) []error {
	var errs []error
	if h.Path != "" && !strings.HasPrefix(h.Path, "/") {
		errs = append(errs, fmt.Errorf("%spath: %q must start with /", prefix, h.Path))
	}
	neg := negatives(prefix, []field{
		{"interval", int64(h.Interval)},
		{"timeout", int64(h.Timeout)},
		{"unhealthy_after", int64(h.UnhealthyAfter)},
		{"healthy_after", int64(h.HealthyAfter)},
	})
	// Compare effective values: a 2s timeout with the 5s default interval is
	// fine. Without a path nothing is probed and the timeout is unused.
	d := Config{HealthCheck: h}.withDefaults().HealthCheck
	if h.Path != "" && h.Interval >= 0 && h.Timeout >= 0 && d.Timeout > d.Interval {
		neg = append(neg, fmt.Errorf("%stimeout: %s is longer than interval %s", prefix, d.Timeout, d.Interval))
	}
	return append(errs, neg...)
}

type field struct {
	name  string
	value int64
}

// negatives reports each negative field, its name prefixed with prefix.
func negatives(prefix string, fields []field) []error {
	var errs []error
	for _, f := range fields {
		if f.value < 0 {
			errs = append(errs, fmt.Errorf("%s%s: must not be negative", prefix, f.name))
		}
	}
	return errs
}

// targetAddr is a parsed Config.Targets entry.
type targetAddr struct {
	hostPort string // what is dialled, and sent as the Host header
	isTLS    bool
}

func parseTarget(s string) (targetAddr, error) {
	var t targetAddr
	rest := s
	switch {
	case strings.HasPrefix(rest, "http://"):
		rest = rest[len("http://"):]
	case strings.HasPrefix(rest, "https://"):
		rest = rest[len("https://"):]
		t.isTLS = true
	case strings.Contains(rest, "://"):
		return t, fmt.Errorf("invalid address %q: scheme must be http or https", s)
	}
	rest = strings.TrimSuffix(rest, "/")
	host, port, err := net.SplitHostPort(rest)
	if err != nil || host == "" || strings.ContainsAny(rest, "/?#@") {
		return t, fmt.Errorf("invalid address %q", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return t, fmt.Errorf("invalid address %q: bad port", s)
	}
	t.hostPort = rest
	return t, nil
}
