package gateway

// Wiring lives here, not in cmd/tiercel: a reload builds the components of
// the next generation and keeps those whose settings did not change, so
// the one place that builds them is the one that can compare two configs.
// cmd/tiercel reads the config and hands it to New and Reload; New makes
// what outlives every config (the Redis client, metrics, the Kafka
// consumer, the listeners) and calls build for the rest.

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"github.com/tiercel/tiercel/cache"
	"github.com/tiercel/tiercel/features"
	"github.com/tiercel/tiercel/gateway/auth"
	"github.com/tiercel/tiercel/gateway/ratelimit"
	"github.com/tiercel/tiercel/gateway/reqtarget"
	"github.com/tiercel/tiercel/gateway/upstream"
	"github.com/tiercel/tiercel/internal/demo"
)

// build makes the generation for cfg. Every component of prev (nil at
// start) whose own settings did not change is kept, with its state: the
// L1 cache, the rate-limit buckets of unchanged routes, upstream
// connections and health, verified tokens and fetched key sets. Nothing
// shared is changed unless build succeeds; on error, what it created is
// closed again.
func (s *Server) build(cfg Config, prev *generation) (g *generation, err error) {
	g = &generation{Server: s, cfg: cfg, pools: map[string]*upstream.Pool{}, access: parseAccessFormat(cfg.Log),
		accessQuery: cfg.Log.AccessQuery,
		targets:     reqtarget.Options{KeepEscapedSlashes: cfg.Server.EscapedSlashes == "keep"},
		maxInFlight: int64(cfg.Server.MaxInFlight)}
	var fresh parts // created here: closed again if build fails
	defer func() {
		if err != nil {
			fresh.close()
		}
	}()
	if len(cfg.Auth.Issuers) > 0 {
		if prev != nil && prev.verifier != nil && reflect.DeepEqual(authConfig(prev.cfg), authConfig(cfg)) {
			g.verifier = prev.verifier
		} else {
			if g.verifier, err = auth.New(authConfig(cfg), s.log.With("component", "auth")); err != nil {
				return nil, fmt.Errorf("cannot set up auth: %w", err)
			}
			fresh.verifier = g.verifier
			if prev != nil {
				if err := keysReady(g.verifier); err != nil {
					return nil, err
				}
			}
		}
	}
	if prev != nil && reflect.DeepEqual(limiterSettings(prev.cfg.RateLimit), limiterSettings(cfg.RateLimit)) {
		g.limiter = prev.limiter
	} else {
		if g.limiter, err = ratelimit.New(cfg.RateLimit, s.redis, s.log.With("component", "ratelimit")); err != nil {
			return nil, fmt.Errorf("cannot set up rate limits: %w", err)
		}
		fresh.limiter = g.limiter
	}
	for _, uc := range cfg.Upstreams {
		if p := prev.pool(uc); p != nil {
			g.pools[uc.Name] = p
			continue
		}
		p, err := upstream.New(uc, s.log.With("component", "upstream", "upstream", uc.Name))
		if err != nil {
			return nil, fmt.Errorf("cannot set up upstream %q: %w", uc.Name, err)
		}
		g.pools[uc.Name] = p
		fresh.pools = append(fresh.pools, p)
	}
	if cfg.cachedRoutes() > 0 || cfg.usesFeatures() || cfg.invalidatingRoutes() {
		if prev != nil && prev.cache != nil && reflect.DeepEqual(prev.cfg.Cache, cfg.Cache) {
			g.cache = prev.cache
		} else {
			if g.cache, err = cache.New(cfg.Cache, s.redis, s.log.With("component", "cache")); err != nil {
				return nil, fmt.Errorf("cannot set up the cache: %w", err)
			}
			fresh.cache = g.cache
		}
	}
	if cfg.usesFeatures() {
		// The Store holds the cache it was made with: a new cache needs a
		// new Store.
		if prev != nil && prev.features != nil && prev.cache == g.cache && reflect.DeepEqual(prev.cfg.Features, cfg.Features) {
			g.features = prev.features
		} else {
			g.features, err = features.New(cfg.Features, features.Options{
				Redis: s.redis, Cache: g.cache, Logger: s.log.With("component", "features")})
			if err != nil {
				return nil, fmt.Errorf("cannot set up features: %w", err)
			}
			fresh.features = g.features
			// Validated to be a memory view: the push touches no network.
			if cfg.Features.SeedDemo {
				if err := demo.SeedFeatures(context.Background(), g.features); err != nil {
					return nil, err
				}
			}
		}
	}
	if err := g.buildRoutes(); err != nil {
		return nil, err
	}
	// Last, because it changes the shared limiter's route table: nothing
	// after it may fail.
	return g, g.bindLimits()
}

// keysReady refuses a reload's new verifier while an issuer has no key to
// verify with (its JWKS could not be fetched): swapped in, it would answer
// 401 to every token the running one accepts. At start the gateway runs
// anyway, not ready; on a reload the old config keeps serving instead.
func keysReady(v *auth.Verifier) error {
	var errs []error
	for _, is := range v.Status() {
		if is.UsableKeys == 0 {
			errs = append(errs, fmt.Errorf("auth.issuers: %s: %s", is.Name, is.Problem))
		}
	}
	return errors.Join(errs...)
}

// authConfig is the verifier's config: the auth section, and the claims
// the routes' cache keys need kept.
func authConfig(cfg Config) auth.Config {
	a := cfg.Auth
	a.KeepClaims = keptClaims(cfg.Routes)
	return a
}

// limiterSettings is the rate_limit section without its policies: what
// only a new Limiter can change.
func limiterSettings(c ratelimit.Config) ratelimit.Config {
	c.Policies = nil
	return c
}

// pool returns prev's pool for uc when its settings did not change.
func (prev *generation) pool(uc upstream.Config) *upstream.Pool {
	if prev == nil || prev.pools[uc.Name] == nil {
		return nil
	}
	for _, old := range prev.cfg.Upstreams {
		if old.Name == uc.Name && reflect.DeepEqual(old, uc) {
			return prev.pools[uc.Name]
		}
	}
	return nil
}

// parts are the closable components of a generation, or of the ones a
// reload retired.
type parts struct {
	verifier *auth.Verifier
	limiter  *ratelimit.Limiter
	pools    []*upstream.Pool
	cache    *cache.Tiered
	features *features.Store
}

func (s *generation) parts() parts {
	p := parts{verifier: s.verifier, limiter: s.limiter, cache: s.cache, features: s.features}
	for _, pool := range s.pools {
		p.pools = append(p.pools, pool)
	}
	return p
}

// retired is what prev has that next no longer uses.
func retired(prev, next *generation) parts {
	var p parts
	if prev.verifier != next.verifier {
		p.verifier = prev.verifier
	}
	if prev.limiter != next.limiter {
		p.limiter = prev.limiter
	}
	if prev.cache != next.cache {
		p.cache = prev.cache
	}
	if prev.features != next.features {
		p.features = prev.features
	}
	for name, pool := range prev.pools {
		if next.pools[name] != pool {
			p.pools = append(p.pools, pool)
		}
	}
	return p
}

func (p parts) empty() bool {
	return p.verifier == nil && p.limiter == nil && p.cache == nil && p.features == nil && len(p.pools) == 0
}

// close closes the parts, users before what they use.
func (p parts) close() {
	if p.features != nil {
		p.features.Close()
	}
	if p.cache != nil {
		p.cache.Close()
	}
	for _, pool := range p.pools {
		pool.Close()
	}
	if p.limiter != nil {
		p.limiter.Close()
	}
	if p.verifier != nil {
		p.verifier.Close()
	}
}
