package upstream

import (
	"testing"
	"time"

	"github.com/tiercel/tiercel/internal/testwait"
)

func TestPassiveHealthSkipsFailingTarget(t *testing.T) {
	bad := startFlaky(t, true)
	good := startFlaky(t, false)
	p := newTestPool(t, Config{
		Targets:     []string{bad.addr, good.addr},
		HealthCheck: HealthCheck{UnhealthyAfter: 2, Interval: time.Hour}, // no trial during the test
	})

	// Round robin alternates, retries included: the first two requests fail
	// on bad and are retried on good; the third skips bad.
	for i := range 3 {
		if _, _, err := get(t, p, "/"); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	s := targetStatus(p, bad.addr)
	if s.Healthy || s.ConsecutiveFailures != 2 || s.LastError == "" || s.Name != "" {
		t.Fatalf("status after 2 failures = %+v, want unhealthy with 2 failures and an error", s)
	}
	for i := range 10 {
		_, res, err := get(t, p, "/")
		if err != nil || res.Attempts != 1 || res.Target != good.addr {
			t.Fatalf("request %d: %+v, %v: want one attempt on the healthy target", i, res, err)
		}
	}
	if st := p.Stats(); st.Retries != 2 {
		t.Errorf("Stats.Retries = %d, want 2", st.Retries)
	}
}

func TestActiveHealthReturnsRecoveredTarget(t *testing.T) {
	sick := startFlaky(t, true)
	good := startFlaky(t, false)
	p := newTestPool(t, Config{
		Name:    "api",
		Targets: []string{sick.addr, good.addr},
		HealthCheck: HealthCheck{
			Path: "/health", Interval: 50 * time.Millisecond, Timeout: 50 * time.Millisecond,
			UnhealthyAfter: 2, HealthyAfter: 2,
		},
	})
	testwait.For(t, 10*time.Second, "probes mark the sick target unhealthy", func() bool {
		return !targetStatus(p, sick.addr).Healthy
	})
	for range 4 {
		if _, res, err := get(t, p, "/"); err != nil || res.Target != good.addr {
			t.Fatalf("Do = %+v, %v: want the healthy target", res, err)
		}
	}

	sick.broken.Store(false)
	testwait.For(t, 10*time.Second, "probes bring the target back", func() bool {
		return targetStatus(p, sick.addr).Healthy
	})
	before := sick.hits.Load()
	for range 4 {
		if _, _, err := get(t, p, "/"); err != nil {
			t.Fatalf("Do: %v", err)
		}
	}
	if sick.hits.Load() == before {
		t.Errorf("the recovered target got no traffic")
	}
	if s := targetStatus(p, sick.addr); s.Name != "api" || s.ConsecutiveFailures != 0 {
		t.Errorf("status = %+v, want pool name and no failures", s)
	}
}

func TestPassiveTrialReturnsRecoveredTarget(t *testing.T) {
	sick := startFlaky(t, true)
	good := startFlaky(t, false)
	p := newTestPool(t, Config{
		Targets:     []string{sick.addr, good.addr},
		HealthCheck: HealthCheck{UnhealthyAfter: 1, Interval: 20 * time.Millisecond},
	})
	if _, _, err := get(t, p, "/"); err != nil {
		t.Fatalf("Do: %v", err)
	}
	if targetStatus(p, sick.addr).Healthy {
		t.Fatalf("sick target still healthy after a connection failure")
	}
	sick.broken.Store(false)
	testwait.For(t, 10*time.Second, "a trial request brings the target back", func() bool {
		if _, _, err := get(t, p, "/"); err != nil {
			t.Fatalf("Do: %v", err)
		}
		return targetStatus(p, sick.addr).Healthy
	})
}

func TestAllUnhealthyStillTriesOne(t *testing.T) {
	a := startFlaky(t, true)
	b := startFlaky(t, true)
	p := newTestPool(t, Config{
		Targets:     []string{a.addr, b.addr},
		HealthCheck: HealthCheck{UnhealthyAfter: 1, Interval: time.Hour},
	})
	if _, _, err := get(t, p, "/"); err == nil {
		t.Fatalf("Do succeeded with both targets broken")
	}
	for _, s := range p.Status() {
		if s.Healthy {
			t.Fatalf("target %s still healthy", s.Addr)
		}
	}
	// b recovers, but nothing has told the pool yet.
	b.broken.Store(false)
	body, _, err := get(t, p, "/")
	if err != nil || body != "ok" {
		t.Fatalf("Do = %q, %v: want a try on the unhealthy targets", body, err)
	}
}
