package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Reloading. A reload builds the next generation (generation.go) from a
// freshly loaded config, keeping every component whose settings did not
// change, and swaps it in with one atomic store: requests that started on
// the old generation finish on it, new ones start on the new one, no
// connection is touched. Components the new generation no longer uses are
// closed after a grace period, once no request can still be using them.

// restartOnly are the settings a running gateway cannot change: the
// listeners and their limits, the admin credentials, the shared Redis
// client, the Kafka consumer, the tracer provider and the logger. A reload that changes one is
// refused, naming each.
//
// Everything under server is restart-only except the fields listed in
// reloadableServer, so that a server setting added later is safe (refused)
// until someone makes it reloadable.
var reloadableServer = []string{"default_timeout", "max_in_flight", "escaped_slashes"}

// ErrRestartRequired is wrapped by a reload refused for a restart-only
// setting.
var ErrRestartRequired = errors.New("these settings need a restart")

// ErrNoReload is returned by ReloadConfig when the server has no loader.
var ErrNoReload = errors.New("reloading is not set up: no config loader")

// Loader reads the config again for a reload: the same file, environment
// and flags as at start, defaults applied and validated. Its error is
// what `tiercel validate` would print.
type Loader func() (Config, error)

// reloader is the Server's reload state.
type reloader struct {
	// mu serialises reloads, and guards what follows.
	mu     sync.Mutex
	load   Loader
	byName map[string]*routeMetrics
	// pending are retired parts waiting for their grace period to end.
	pending map[*time.Timer]parts

	ok, invalid, restart, failed atomic.Uint64
	// lastOK is the Unix time of the last successful reload (or of New);
	// lastBad is set while the last reload tried failed.
	lastOK  atomic.Int64
	lastBad atomic.Bool
}

// reloadGrace is added to twice the longest route budget before retired
// components are closed. Every use of a component by a request is bounded
// by its budget, and background fills and refreshes by one more, so a
// reference count, which every request would pay for on a shared cache
// line, buys nothing.
const reloadGrace = 5 * time.Second

// SetLoader makes ReloadConfig, SIGHUP and POST /admin/reload possible.
// Call it before Start.
func (s *Server) SetLoader(l Loader) {
	s.reload.mu.Lock()
	s.reload.load = l
	s.reload.mu.Unlock()
}

// ReloadConfig loads the config with the Loader and reloads it. A config
// that does not load is counted as invalid and changes nothing.
func (s *Server) ReloadConfig() error {
	r := &s.reload
	// Held from the read to the swap: of two reloads, the one that read
	// the file last is the one left serving.
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.load == nil {
		return ErrNoReload
	}
	cfg, err := r.load()
	if err != nil {
		r.invalid.Add(1)
		r.lastBad.Store(true)
		s.log.Error("config reload rejected: the config is invalid; the old one keeps serving", "error", err.Error())
		return fmt.Errorf("cannot reload: %w", err)
	}
	return s.reloadLocked(cfg)
}

// Reload swaps in cfg (SetDefaults and Validate done). On error nothing
// changed: the old config keeps serving.
func (s *Server) Reload(cfg Config) error {
	s.reload.mu.Lock()
	defer s.reload.mu.Unlock()
	return s.reloadLocked(cfg)
}

func (s *Server) reloadLocked(cfg Config) error {
	r := &s.reload
	if fields := restartFields(s.cfg, cfg); len(fields) > 0 {
		r.restart.Add(1)
		r.lastBad.Store(true)
		err := fmt.Errorf("cannot reload: %w: %s", ErrRestartRequired, strings.Join(fields, ", "))
		s.log.Error("config reload rejected; the old config keeps serving", "error", err.Error())
		return err
	}
	prev := s.current()
	start := time.Now()
	next, err := s.build(cfg, prev)
	if err != nil {
		r.failed.Add(1)
		r.lastBad.Store(true)
		s.log.Error("config reload failed; the old config keeps serving", "error", err.Error())
		return fmt.Errorf("cannot reload: %w", err)
	}
	s.gen.Store(next)
	old := retired(prev, next)
	if !old.empty() {
		grace := 2*maxTimeout(prev) + reloadGrace
		var t *time.Timer
		t = time.AfterFunc(grace, func() {
			r.mu.Lock()
			p, ok := r.pending[t]
			delete(r.pending, t)
			r.mu.Unlock()
			if ok {
				p.close()
			}
		})
		if r.pending == nil {
			r.pending = map[*time.Timer]parts{}
		}
		r.pending[t] = old
	}
	r.ok.Add(1)
	r.lastBad.Store(false)
	r.lastOK.Store(time.Now().Unix())
	s.log.Info("config reloaded", "routes", len(next.routes), "upstreams", len(next.pools),
		"took", time.Since(start), "kept", kept(prev, next))
	return nil
}

// kept names the stateful components the reload carried over.
func kept(prev, next *generation) string {
	var k []string
	if prev.cache != nil && prev.cache == next.cache {
		k = append(k, "cache")
	}
	if prev.limiter == next.limiter {
		k = append(k, "ratelimit")
	}
	if prev.verifier != nil && prev.verifier == next.verifier {
		k = append(k, "auth")
	}
	if prev.features != nil && prev.features == next.features {
		k = append(k, "features")
	}
	n := 0
	for name, p := range next.pools {
		if prev.pools[name] == p {
			n++
		}
	}
	return strings.Join(append(k, fmt.Sprintf("%d/%d upstreams", n, len(next.pools))), ", ")
}

func maxTimeout(g *generation) time.Duration {
	var d time.Duration
	for _, rt := range g.routes {
		d = max(d, rt.timeout)
	}
	return d
}

// closeRetired closes every retired part at once (at shutdown, after the
// drain).
func (r *reloader) closeRetired() {
	r.mu.Lock()
	pending := r.pending
	r.pending = nil
	r.mu.Unlock()
	for t, p := range pending {
		t.Stop()
		p.close()
	}
}

// routeMetrics returns the route's metrics, one per route name across
// reloads, so that a reload does not make every route's first requests
// look up their histograms again.
func (r *reloader) routeMetrics(m *metrics, name string) *routeMetrics {
	if r.byName == nil {
		r.byName = map[string]*routeMetrics{}
	}
	rm, ok := r.byName[name]
	if !ok {
		rm = m.route(name)
		r.byName[name] = rm
	}
	return rm
}

// restartFields names the settings that differ between the running config
// and next and that only a restart can apply, by their YAML path.
func restartFields(running, next Config) []string {
	var out []string
	a, b := running.Server, next.Server
	for _, name := range reloadableServer {
		clearYAMLField(&a, name)
		clearYAMLField(&b, name)
	}
	out = diffYAML(out, "server", reflect.ValueOf(a), reflect.ValueOf(b))
	out = diffYAML(out, "redis", reflect.ValueOf(running.Redis), reflect.ValueOf(next.Redis))
	out = diffYAML(out, "kafka", reflect.ValueOf(running.Kafka), reflect.ValueOf(next.Kafka))
	// One provider per process: spans in flight outlive a generation.
	out = diffYAML(out, "tracing", reflect.ValueOf(running.Tracing), reflect.ValueOf(next.Tracing))
	if running.Log.Level != next.Log.Level {
		out = append(out, "log.level")
	}
	if running.Log.Format != next.Log.Format {
		out = append(out, "log.format")
	}
	return out
}

// diffYAML appends the paths of the leaf fields that differ between the
// structs a and b.
func diffYAML(out []string, path string, a, b reflect.Value) []string {
	if a.Kind() != reflect.Struct {
		if !reflect.DeepEqual(a.Interface(), b.Interface()) {
			out = append(out, path)
		}
		return out
	}
	for i := range a.NumField() {
		f := a.Type().Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		p := path
		switch {
		case strings.Contains(opts, "inline"):
		case name == "-":
			continue
		case name == "":
			p += "." + strings.ToLower(f.Name)
		default:
			p += "." + name
		}
		out = diffYAML(out, p, a.Field(i), b.Field(i))
	}
	return out
}

// clearYAMLField zeroes the field of *v whose YAML name is name.
func clearYAMLField(v *ServerConfig, name string) {
	rv := reflect.ValueOf(v).Elem()
	for i := range rv.NumField() {
		if tag, _, _ := strings.Cut(rv.Type().Field(i).Tag.Get("yaml"), ","); tag == name {
			rv.Field(i).SetZero()
			return
		}
	}
	panic("BUG: no server field " + name)
}

// handleReload answers POST /admin/reload: 200 with the routes now served,
// or 422 with the reason the old config keeps serving (the validate
// messages, or the settings needing a restart).
func (s *Server) handleReload(w http.ResponseWriter, _ *http.Request) {
	if err := s.ReloadConfig(); err != nil {
		code := "invalid_config"
		switch {
		case errors.Is(err, ErrNoReload):
			writeAdminError(w, &Error{http.StatusNotFound, "no_reload", err.Error()})
			return
		case errors.Is(err, ErrRestartRequired):
			code = "restart_required"
		}
		writeAdminError(w, &Error{http.StatusUnprocessableEntity, code, err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = fmt.Fprintf(w, "{\"status\":\"reloaded\",\"routes\":%d}\n", len(s.current().routes))
}
