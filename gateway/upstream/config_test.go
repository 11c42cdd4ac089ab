package upstream

import (
	"strings"
	"testing"
	"time"

	"github.com/tiercel/tiercel/internal/breaker"
)

func TestConfigValidate(t *testing.T) {
	f := func(cfg Config, want string) {
		t.Helper()
		err := cfg.Validate()
		if want == "" {
			if err != nil {
				t.Errorf("Validate(%+v) = %v, want nil", cfg, err)
			}
			return
		}
		if err == nil || err.Error() != want {
			t.Errorf("Validate(%+v) = %v, want %q", cfg, err, want)
		}
	}
	ok := []string{"127.0.0.1:8080"}

	f(Config{Targets: ok}, "")
	f(Config{Targets: []string{"a:1", "http://b:2", "https://c:443", "[::1]:80", "http://d:3/"}, Balance: "least_loaded"}, "")
	f(Config{Targets: ok, Retries: -1}, "")
	f(Config{Targets: ok, HealthCheck: HealthCheck{Path: "/healthz", Timeout: 2 * time.Second}}, "")

	f(Config{}, "targets: at least one target is required")
	f(Config{Targets: []string{"a:1", "x:y:z"}}, `targets[1]: invalid address "x:y:z"`)
	f(Config{Targets: []string{"a"}}, `targets[0]: invalid address "a"`)
	f(Config{Targets: []string{":80"}}, `targets[0]: invalid address ":80"`)
	f(Config{Targets: []string{"a:0"}}, `targets[0]: invalid address "a:0": bad port`)
	f(Config{Targets: []string{"a:http"}}, `targets[0]: invalid address "a:http": bad port`)
	f(Config{Targets: []string{"http://a:1/api"}}, `targets[0]: invalid address "http://a:1/api"`)
	f(Config{Targets: []string{"ftp://a:1"}}, `targets[0]: invalid address "ftp://a:1": scheme must be http or https`)
	f(Config{Targets: []string{"a:1", "b:2", "a:1"}}, `targets[2]: duplicate of targets[0] "a:1"`)
	f(Config{Targets: ok, Balance: "random"}, `balance: unknown policy "random" (want round_robin or least_loaded)`)
	f(Config{Targets: ok, Retries: 9}, "retries: 9 is more than 8")
	f(Config{Targets: ok, MaxConnsPerTarget: -1}, "max_conns_per_target: must not be negative")
	f(Config{Targets: ok, DialTimeout: -time.Second}, "dial_timeout: must not be negative")
	f(Config{Targets: ok, IdleConnTimeout: -1}, "idle_conn_timeout: must not be negative")
	f(Config{Targets: ok, HealthCheck: HealthCheck{Path: "healthz"}}, `health_check.path: "healthz" must start with /`)
	f(Config{Targets: ok, HealthCheck: HealthCheck{Interval: -1}}, "health_check.interval: must not be negative")
	f(Config{Targets: ok, HealthCheck: HealthCheck{UnhealthyAfter: -1}}, "health_check.unhealthy_after: must not be negative")
	f(Config{Targets: ok, HealthCheck: HealthCheck{Interval: 10 * time.Millisecond}}, "")
	f(Config{Targets: ok, HealthCheck: HealthCheck{Path: "/", Interval: time.Second, Timeout: 2 * time.Second}},
		"health_check.timeout: 2s is longer than interval 1s")
	f(Config{Targets: ok, Breaker: breaker.Config{Failures: -1, Cooldown: -1}}, "breaker.cooldown: must not be negative")
	// Every problem, each with its path.
	f(Config{Targets: []string{"a", "b:1", "b:1"}, Retries: 9, DialTimeout: -1, HedgeAfter: -1,
		Breaker: breaker.Config{Cooldown: -1}, HealthCheck: HealthCheck{Path: "x", Interval: -1}}, strings.Join([]string{
		`targets[0]: invalid address "a"`,
		`targets[2]: duplicate of targets[1] "b:1"`,
		"retries: 9 is more than 8",
		"dial_timeout: must not be negative",
		"hedge_after: must not be negative",
		"breaker.cooldown: must not be negative",
		`health_check.path: "x" must start with /`,
		"health_check.interval: must not be negative",
	}, "\n"))
}

func TestConfigDefaults(t *testing.T) {
	got := Config{Targets: []string{"a:1"}}.withDefaults()
	want := Config{
		Targets:           []string{"a:1"},
		Balance:           "round_robin",
		MaxConnsPerTarget: 512,
		DialTimeout:       time.Second,
		IdleConnTimeout:   4 * time.Second,
		Retries:           1,
		HealthCheck:       HealthCheck{Interval: 5 * time.Second, Timeout: time.Second, UnhealthyAfter: 3, HealthyAfter: 2},
	}
	if got.Balance != want.Balance || got.MaxConnsPerTarget != want.MaxConnsPerTarget ||
		got.DialTimeout != want.DialTimeout || got.IdleConnTimeout != want.IdleConnTimeout ||
		got.Retries != want.Retries || got.HealthCheck != want.HealthCheck {
		t.Errorf("withDefaults() = %+v, want %+v", got, want)
	}
	if r := (Config{Retries: -1}).withDefaults().Retries; r != 0 {
		t.Errorf("negative Retries became %d, want 0 (disabled)", r)
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	_, err := New(Config{Name: "api", Targets: []string{"x:y:z"}}, nil)
	if want := `cannot create upstream pool "api": targets[0]: invalid address "x:y:z"`; err == nil || err.Error() != want {
		t.Errorf("New = %v, want %q", err, want)
	}
}
