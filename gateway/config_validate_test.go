package gateway

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tiercel/tiercel/gateway/upstream"
	"github.com/tiercel/tiercel/internal/breaker"
)

// Every section reports every problem, one line each, with its whole path.
func TestConfigValidateReportsEveryProblem(t *testing.T) {
	var c Config
	c.Cache.L1MaxBytes = 1
	c.Cache.Breaker = breaker.Config{Cooldown: -1}
	c.RateLimit.Breaker = breaker.Config{Cooldown: -time.Second}
	c.Features.MaxEntities = -1
	c.Features.Breaker.Cooldown = -1
	c.Upstreams = []upstream.Config{{Name: "a", Targets: []string{"x"}, DialTimeout: -1}}
	c.SetDefaults()
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate = nil")
	}
	got := strings.Split(err.Error(), "\n")
	for _, want := range []string{
		"cache.l1_max_bytes: must be >= 1 MiB",
		"cache.breaker.cooldown: must not be negative",
		"rate_limit.breaker.cooldown: must not be negative",
		"features.max_entities: must be >= 1",
		"features.breaker.cooldown: must not be negative",
		`upstreams[0].targets[0]: invalid address "x"`,
		"upstreams[0].dial_timeout: must not be negative",
	} {
		found := false
		for _, line := range got {
			found = found || line == want
		}
		if !found {
			t.Errorf("no line %q in\n%s", want, err)
		}
	}
}

// prefixEach prefixes every joined error at any depth, and leaves one
// error wrapping two (fmt.Errorf with two %w) whole.
func TestPrefixEach(t *testing.T) {
	a, b, c := errors.New("a: x"), errors.New("b: y"), errors.New("c: z")
	two := fmt.Errorf("d: %w: %w", a, b)
	got := prefixEach("s.", errors.Join(a, errors.Join(b, nil, c), two))
	want := []string{"s.a: x", "s.b: y", "s.c: z", "s.d: a: x: b: y"}
	if len(got) != len(want) {
		t.Fatalf("prefixEach = %q, want %q", got, want)
	}
	for i := range got {
		if got[i].Error() != want[i] {
			t.Errorf("[%d] = %q, want %q", i, got[i], want[i])
		}
	}
	if !errors.Is(got[0], a) {
		t.Error("prefixEach lost the wrapped error")
	}
	if prefixEach("s.", nil) != nil {
		t.Error("prefixEach(nil) != nil")
	}
}
