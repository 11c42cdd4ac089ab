package ratelimit

import (
	"fmt"
	"maps"
	"reflect"
)

// Update makes routes (route name → policy name) the Limiter's route
// table, with policies as its policies, and returns each route's Handle:
// the gateway calls it when a config reload commits. A route still limited
// by an unchanged policy of the same name keeps its Handle, and with it
// every bucket: a reload must not hand each client a fresh burst. Any other
// route gets a new Handle. Handles left out keep working for requests that
// still hold them, but are no longer swept; their counters are folded into
// Stats so that the totals never go down.
//
// IdleTTL, MaxKeys and RedisTimeout belong to the Limiter, not to Update:
// a change there needs a new Limiter. policies must be valid (Config.
// Validate); a route naming an unknown policy fails the whole update and
// changes nothing.
func (l *Limiter) Update(policies map[string]Policy, routes map[string]string) (map[string]*Handle, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	compiled := make(map[string]*policy, len(policies))
	for name, p := range policies {
		if old, ok := l.cfg.Policies[name]; ok && reflect.DeepEqual(old, p) {
			compiled[name] = l.policies[name]
			continue
		}
		compiled[name] = compilePolicy(p)
	}
	out := make(map[string]*Handle, len(routes))
	for route, name := range routes {
		p, ok := compiled[name]
		if !ok {
			return nil, fmt.Errorf("cannot limit route %q: %w %q", route, ErrUnknownPolicy, name)
		}
		if h, ok := l.routes[route]; ok && h.policy == p {
			out[route] = h
			continue
		}
		out[route] = newHandle(l, route, name, p)
	}
	for route, h := range l.routes {
		if out[route] != h {
			l.retire(h)
		}
	}
	l.routes = out
	l.policies = compiled
	l.cfg.Policies = maps.Clone(policies)
	return maps.Clone(out), nil
}

// retire adds a Handle's counters to the Limiter's own as it leaves the
// route table. Called with mu held.
func (l *Limiter) retire(h *Handle) {
	for i := range h.store.shards {
		sh := &h.store.shards[i]
		l.retiredAllowed.Add(sh.allowed.Load())
		l.retiredRejected.Add(sh.rejected.Load())
		l.retiredEvictions.Add(sh.evictions.Load())
	}
}
