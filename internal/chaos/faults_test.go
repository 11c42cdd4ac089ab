package chaos

import (
	"fmt"
	"time"
)

// faults is the suite: every dependency, every way it breaks.
func faults() []fault {
	var out []fault
	out = append(out, redisFaults()...)
	out = append(out, clusterMasterKilled())
	origins := httpFaults("origin", "upstream:catalog",
		[]string{"products STALE", "products-cold FALLBACK", "quotes FALLBACK"},
		[]string{"products-cold MISS"},
		func(e *env) []*Proxy { return e.originP[:] },
		func(e *env) []*failing { return []*failing{&e.origins[0].failing, &e.origins[1].failing} })
	for i := range origins {
		origins[i].openBreakers = func(e *env) []*Proxy { return e.originP[:] }
	}
	out = append(out, origins...)
	out = append(out, oneOriginHangs())
	out = append(out, httpFaults("feature server", "view:profile",
		[]string{"features-cold profile:DEFAULT"},
		[]string{"features-cold profile:PRESENT"},
		func(e *env) []*Proxy { return []*Proxy{e.featP} },
		func(e *env) []*failing { return []*failing{&e.feats.failing} })...)
	out = append(out, httpFaults("model server", "model:churn",
		[]string{"predict predict:stale", "predict-cold predict:default"},
		[]string{"predict-cold predict:model"},
		func(e *env) []*Proxy { return []*Proxy{e.modelP} },
		func(e *env) []*failing { return []*failing{&e.model.failing} })...)
	out = append(out, kafkaFault())
	out = append(out, jwksFaults()...)
	return out
}

// redisFaults break the Redis shared by both replicas: the L2 cache, the
// cluster rate limiter and the redis feature view.
func redisFaults() []fault {
	base := fault{
		degraded: []string{"redis", "cache_l2", "features:redis"},
		// L1 keeps answering; feature rows past their L1 lifetime fall
		// back to the declared defaults.
		during: []string{"products HIT-L1", "features stats:DEFAULT"},
		// Both replicas refill products from each other's writes through
		// Redis: HIT-L2 answers mean the shared tier is back.
		after: []string{"products HIT-L2"},
	}
	proxied := func(name string, inject func(p *Proxy) error) fault {
		f := base
		f.name = name
		f.inject = func(e *env) {
			if err := inject(e.redisP); err != nil {
				e.t.Fatal(err)
			}
		}
		f.clear = func(e *env) { e.redisP.Clear() }
		return f
	}
	stop, restart := base, base
	stop.name = "redis SIGSTOP"
	stop.inject = func(e *env) { e.redis.Pause() }
	stop.clear = func(e *env) { e.redis.Resume() }
	restart.name = "redis kill+restart"
	restart.inject = func(e *env) { e.redis.Kill() }
	restart.clear = func(e *env) {
		e.redis.Restart()
		// An empty Redis came back: the feature pipeline writes the rows
		// again, through the gateway.
		e.seedUntil(e.fx.token(e.t, e.fx.key, kid, "seeder"), 10*time.Second)
	}
	return []fault{
		proxied("redis latency 500ms", func(p *Proxy) error { return p.Latency(500 * time.Millisecond) }),
		proxied("redis reset", (*Proxy).Reset),
		proxied("redis blackhole", (*Proxy).Blackhole),
		stop,
		restart,
	}
}

// httpFaults break an HTTP dependency four ways: hang, 5xx, slow and
// reset. check is its /readyz check; during and after the steps that show
// the fallback and the recovery.
func httpFaults(what, check string, during, after []string, proxies func(*env) []*Proxy, servers func(*env) []*failing) []fault {
	mk := func(how string, inject func(e *env)) fault {
		return fault{
			name: what + " " + how, degraded: []string{check}, during: during, after: after,
			inject: inject,
			clear: func(e *env) {
				for _, p := range proxies(e) {
					p.Clear()
				}
				for _, s := range servers(e) {
					s.on.Store(false)
				}
			},
		}
	}
	each := func(fn func(p *Proxy) error) func(e *env) {
		return func(e *env) {
			for _, p := range proxies(e) {
				if err := fn(p); err != nil {
					e.t.Fatal(err)
				}
			}
		}
	}
	return []fault{
		mk("hang", each((*Proxy).Blackhole)),
		mk("5xx", func(e *env) {
			for _, s := range servers(e) {
				s.on.Store(true)
			}
		}),
		// Slower than the whole budget: as good as down, but answering.
		mk("slow 200ms", each(func(p *Proxy) error { return p.Latency(200 * time.Millisecond) })),
		mk("reset", each((*Proxy).Reset)),
	}
}

// oneOriginHangs blackholes one of the pool's two targets: its breaker
// opens, hedged requests and the other target keep answering from the
// origin, and no fallback is needed.
func oneOriginHangs() fault {
	return fault{
		name:         "origin one of two hangs",
		degraded:     []string{"upstream:catalog"},
		openBreakers: func(e *env) []*Proxy { return e.originP[:1] },
		during:       []string{"products-cold MISS"},
		never:        []string{"products-cold FALLBACK", "quotes FALLBACK"},
		inject: func(e *env) {
			if err := e.originP[0].Blackhole(); err != nil {
				e.t.Fatal(err)
			}
		},
		clear: func(e *env) { e.originP[0].Clear() },
	}
}

// kafkaFault stops the broker and starts it again: invalidations published
// after the restart must reach both replicas (the lag drains).
func kafkaFault() fault {
	return fault{
		name:     "kafka broker stopped",
		degraded: []string{"kafka"},
		inject: func(e *env) {
			e.publish("before-stop", "product:1")
			e.kafka.Kill()
		},
		clear: func(e *env) {
			e.kafka.Restart()
			e.publish("after-restart", "product:2")
		},
		recovered: func(e *env, _ *Load) error {
			for i := range e.gws {
				applied, _ := e.metric(i, `tiercel_invalidation_events_applied_total{type="invalidate"}`)
				if applied < 2 {
					return fmt.Errorf("replica %d applied %v of the 2 events", i, applied)
				}
				if lag, ok := e.metric(i, "tiercel_invalidation_lag_messages"); !ok || lag != 0 {
					return fmt.Errorf("replica %d lag %v (reported: %v)", i, lag, ok)
				}
			}
			return nil
		},
	}
}

// jwksFaults take the JWKS endpoint away while its keys are cached: known
// keys keep verifying, unknown key ids are refused inside the budget.
func jwksFaults() []fault {
	return []fault{
		{
			name: "jwks down", degraded: []string{"jwks:chaos"}, rogue: true,
			inject: func(e *env) { e.jwksP.Down() },
			clear: func(e *env) {
				if err := e.jwksP.Up(); err != nil {
					e.t.Fatal(err)
				}
			},
		},
		{
			name: "jwks hang", degraded: []string{"jwks:chaos"}, rogue: true,
			inject: func(e *env) {
				if err := e.jwksP.Blackhole(); err != nil {
					e.t.Fatal(err)
				}
			},
			clear: func(e *env) { e.jwksP.Clear() },
		},
	}
}
