package ratelimit

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/tiercel/tiercel/internal/breaker"
	"github.com/tiercel/tiercel/internal/testwait"
)

func TestValidate(t *testing.T) {
	f := func(cfg Config, want ...string) {
		t.Helper()
		err := cfg.Validate()
		if len(want) == 0 {
			if err != nil {
				t.Fatalf("Validate() = %v; want nil", err)
			}
			return
		}
		if err == nil {
			t.Fatalf("Validate() = nil; want %q", want)
		}
		got := strings.Split(err.Error(), "\n")
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("Validate() messages\n got %q\nwant %q", got, want)
		}
	}
	p := func(rate float64, burst int) map[string]Policy {
		return map[string]Policy{"products": {Rate: rate, Burst: burst}}
	}

	f(Config{})
	f(Config{Policies: p(0.5, 0)})
	f(Config{Policies: map[string]Policy{"p": {
		Rate: 10, Burst: 20, Key: KeyTenant, TierClaim: "plan", Cluster: true,
		Tiers: map[string]Tier{"pro": {Rate: 100}},
	}}})

	f(Config{Policies: p(0, 1)}, "policies.products.rate: must be > 0")
	f(Config{Policies: p(-1, 1)}, "policies.products.rate: must be > 0")
	f(Config{Policies: p(math.NaN(), 1)}, "policies.products.rate: must be > 0")
	f(Config{Policies: p(math.Inf(1), 1)}, "policies.products.rate: must be finite")
	f(Config{Policies: p(2e9, 1)}, "policies.products.rate: must be <= 1e+09")
	f(Config{Policies: p(1, -1)}, "policies.products.burst: must be >= 0")
	f(Config{Policies: map[string]Policy{"p": {Rate: 1, Key: "user"}}},
		`policies.p.key: must be one of "subject", "tenant", "ip"; got "user"`)
	f(Config{Policies: map[string]Policy{"p": {Rate: 1, TierClaim: "tier"}}},
		`policies.p.tier_claim: must be "plan" (the only claim the gateway passes as tier); got "tier"`)
	f(Config{Policies: map[string]Policy{"p": {Rate: 1, Tiers: map[string]Tier{
		"pro":  {Rate: 0},
		"free": {Rate: 1, Burst: -2},
		"":     {Rate: 1},
	}}}},
		"policies.p.tiers: tier name must not be empty",
		"policies.p.tiers.free.burst: must be >= 0",
		"policies.p.tiers.pro.rate: must be > 0")
	f(Config{Policies: map[string]Policy{"": {Rate: 1}}}, "policies: policy name must not be empty")
	f(Config{Breaker: breaker.Config{Failures: -1, Cooldown: time.Hour}})
	f(Config{IdleTTL: -time.Second, MaxKeys: -1, RedisTimeout: -1, Breaker: breaker.Config{Cooldown: -1}, Policies: map[string]Policy{
		"b": {Rate: 0},
		"a": {Rate: 1, Burst: -1},
	}},
		"idle_ttl: must be >= 0",
		"max_keys: must be >= 0",
		"redis_timeout: must be >= 0",
		"breaker.cooldown: must not be negative",
		"policies.a.burst: must be >= 0",
		"policies.b.rate: must be > 0")
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	_, err := New(Config{Policies: map[string]Policy{"p": {}}}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "policies.p.rate: must be > 0") {
		t.Fatalf("New() error = %v; want it to carry the validation message", err)
	}
}

func TestDefaults(t *testing.T) {
	l := newLimiter(t, Config{Policies: map[string]Policy{
		"frac":  {Rate: 0.2},
		"whole": {Rate: 2.5, Key: KeyIP},
	}}, nil)
	if l.cfg.IdleTTL != DefaultIdleTTL || l.cfg.MaxKeys != DefaultMaxKeys || l.cfg.RedisTimeout != DefaultRedisTimeout ||
		l.cfg.Breaker != (breaker.Config{Failures: 5, Cooldown: time.Second}) {
		t.Fatalf("defaults not applied: %+v", l.cfg)
	}
	f := func(policy, wantKind string, wantBurst int) {
		t.Helper()
		h := mustRoute(t, l, policy, policy)
		if got := h.KeyKind(); got != wantKind {
			t.Errorf("%s: KeyKind() = %q; want %q", policy, got, wantKind)
		}
		if got := h.Allow(t0, []byte("k"), "").Limit; got != wantBurst {
			t.Errorf("%s: Limit = %d; want default burst %d", policy, got, wantBurst)
		}
	}
	f("frac", KeySubject, 1)
	f("whole", KeyIP, 3)
}

func TestRoute(t *testing.T) {
	l := newLimiter(t, Config{Policies: map[string]Policy{"a": {Rate: 1}, "b": {Rate: 1}}}, nil)
	h := mustRoute(t, l, "/products", "a")
	if again := mustRoute(t, l, "/products", "a"); again != h {
		t.Fatalf("Route with the same route and policy returned a new Handle")
	}
	if _, err := l.Route("/products", "b"); err == nil {
		t.Fatalf("Route with another policy for the same route: want error")
	}
	_, err := l.Route("/orders", "missing")
	if !errors.Is(err, ErrUnknownPolicy) {
		t.Fatalf("Route(unknown policy) error = %v; want ErrUnknownPolicy", err)
	}
}

func TestRedisLimit(t *testing.T) {
	f := func(rate float64, wantRate int, wantPeriod time.Duration) {
		t.Helper()
		got := redisLimit(rate, 7)
		if got.Rate != wantRate || got.Period != wantPeriod || got.Burst != 7 {
			t.Fatalf("redisLimit(%v) = %+v; want %d per %s, burst 7", rate, got, wantRate, wantPeriod)
		}
	}
	f(1, 1, time.Second)
	f(100, 100, time.Second)
	f(0.5, 1, 2*time.Second)
	f(2.5, 1, 400*time.Millisecond)
	f(1.0/3, 1, 3*time.Second)
	f(1e9, 1_000_000_000, time.Second)
	f(1e-12, 1, math.MaxInt64) // saturates instead of overflowing
}

func TestDurationForSaturates(t *testing.T) {
	if got := durationFor(1e9, 1e-9); got != math.MaxInt64 {
		t.Fatalf("durationFor(1e9 tokens, 1e-9/s) = %d; want the largest Duration", got)
	}
}

func TestCloseStopsSweeper(t *testing.T) {
	l, err := New(Config{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The sweeper's stack shows its receiver, which tells it from other
	// tests' Limiters.
	marker := fmt.Sprintf("sweepLoop(%p)", l)
	if !testwait.Until(5*time.Second, func() bool { return strings.Contains(allStacks(), marker) }) {
		t.Fatalf("no sweeper goroutine found for %s: the check would not see a leak", marker)
	}
	l.Close()
	l.Close()
	if stacks, gone := leftBehind(marker); !gone {
		t.Fatalf("sweeper still running after Close:\n%s", stacks)
	}
}
