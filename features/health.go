package features

import "sort"

// Dependency is the state of one thing the Store calls, for readiness
// checks and metrics.
type Dependency struct {
	// Name is features:redis, view:<name> (http views) or model:<name>.
	Name string
	// Breaker is closed, open or half-open; "" when there is none (no
	// Redis configured, a builtin model).
	Breaker string
	// Skipped counts calls the open breaker answered at once.
	Skipped uint64
	// Detail says why there is no breaker.
	Detail string
}

// Down reports whether the dependency cannot be used now: its breaker is
// open, or it is not configured although something needs it.
func (d Dependency) Down() bool { return d.Breaker == "open" || d.Detail == detailNoRedis }

const detailNoRedis = "no redis configured: redis views answer NOT_FOUND or DEFAULT"

// Dependencies lists the Store's dependencies, sorted by name.
func (s *Store) Dependencies() []Dependency {
	var out []Dependency
	switch {
	case s.rdb != nil:
		out = append(out, breakerDep(s.redisBr))
	case s.reg.hasRedisViews():
		out = append(out, Dependency{Name: "features:redis", Detail: detailNoRedis})
	}
	for _, v := range s.reg.viewList {
		if v.br != nil {
			out = append(out, breakerDep(v.br))
		}
	}
	for _, m := range s.reg.models {
		if m.br != nil {
			out = append(out, breakerDep(m.br))
		} else {
			out = append(out, Dependency{Name: "model:" + m.name, Detail: "builtin"})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func breakerDep(b *guard) Dependency {
	return Dependency{Name: b.name, Breaker: b.State(), Skipped: b.skipped.Load()}
}

func (r *registry) hasRedisViews() bool {
	for _, v := range r.viewList {
		if v.source == sourceRedis {
			return true
		}
	}
	return false
}

// Fallback counts rows answered without their source.
type Fallback struct {
	// Name is view:<name> or model:<name>.
	Name string
	// Served is what answered instead: for views "absent" (the values are
	// DEFAULT where declared, else NOT_FOUND); for models "stale" (the
	// entity's last good prediction), "default", or "none" (the request
	// failed).
	Served string
	Reason Reason
	Rows   uint64
}

// Fallbacks returns the non-zero fallback counters, monotonic since New.
func (s *Store) Fallbacks() []Fallback {
	var out []Fallback
	for _, v := range s.reg.viewList {
		for r := range numReasons {
			if n := v.fallbacks[r].Load(); n > 0 {
				out = append(out, Fallback{Name: "view:" + v.name, Served: "absent", Reason: r, Rows: n})
			}
		}
	}
	for _, m := range s.reg.models {
		for sv := range numServed {
			for r := range numReasons {
				if n := m.fallbacks[sv][r].Load(); n > 0 {
					out = append(out, Fallback{Name: "model:" + m.name, Served: servedNames[sv], Reason: r, Rows: n})
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Served != b.Served {
			return a.Served < b.Served
		}
		return a.Reason < b.Reason
	})
	return out
}
