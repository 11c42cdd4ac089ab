package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tiercel/tiercel/internal/chaos"
	"github.com/tiercel/tiercel/internal/testwait"
)

const reloadAdminToken = "reload-test-admin-token-0123456789"

// reloadConfigs are two valid configs a reload alternates between: B moves
// route a to upstream two and adds route b. The cached route and the
// rate-limited route are the same in both, so their state must survive.
func reloadConfigs(listen, admin, one, two string) (a, b string) {
	head := fmt.Sprintf(`
server:
  listen: %q
  admin_listen: %q
  admin: {token_env: RELOAD_TEST_ADMIN_TOKEN}
  default_timeout: 2s
rate_limit:
  policies:
    wide: {rate: 1000000, burst: 1000000, key: ip}
upstreams:
  - {name: one, targets: [%q]}
  - {name: two, targets: [%q]}
routes:
  - {name: cached, path: "/cached/{id}", upstream: one, auth: {mode: none}, cache: {enabled: true, ttl: 1h}}
`, listen, admin, one, two)
	a = head + `  - {name: a, path: "/a/{id}", upstream: one, auth: {mode: none}, rate_limit: wide}
`
	b = head + `  - {name: a, path: "/a/{id}", upstream: two, auth: {mode: none}, rate_limit: wide}
  - {name: b, path: "/b", upstream: two, auth: {mode: none}}
`
	return a, b
}

// TestReloadUnderLoad runs the real binary under an open-loop load and
// reloads it 20 times with SIGHUP, alternating two configs, then once with
// POST /admin/reload: no request may fail, each reload serves its routes
// and upstreams at once, and the cached route keeps its L1 entries. A
// broken file is refused with the message `tiercel validate` prints, and
// changes nothing.
func TestReloadUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Setenv("RELOAD_TEST_ADMIN_TOKEN", reloadAdminToken)
	bin := buildBinary(t)
	one, two := namedOrigin(t, "one"), namedOrigin(t, "two")
	listen, admin := freeAddr(t), freeAddr(t)
	cfgA, cfgB := reloadConfigs(listen, admin, one, two)
	dir := t.TempDir()
	path := filepath.Join(dir, "tiercel.yaml")
	write := func(body string) {
		t.Helper()
		// Renamed into place: a reload never reads half a file.
		tmp := filepath.Join(dir, "next.yaml")
		if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write(cfgA)
	cmd, exited, logs := startBinary(t, bin, []string{"TIERCEL_REDIS_URL=", "TIERCEL_KAFKA_BROKERS="}, "serve", "-config", path)
	gw := gatewayClient{t: t, base: "http://" + listen, admin: "http://" + admin, logs: logs}
	gw.waitHealthy()
	if got := gw.get("/a/1"); got.body != "one" {
		t.Fatalf("/a before any reload: %+v", got)
	}
	gw.get("/cached/0") // stored: every later read of it must hit L1

	load, err := chaos.StartLoad(chaos.LoadConfig{
		Bases: []string{gw.base},
		Targets: []chaos.Target{
			{Name: "a", Path: func(i uint64) string { return fmt.Sprintf("/a/%d", i%100) }},
			{Name: "cached", Path: func(i uint64) string { return "/cached/0" }},
		},
		Rate: 400,
	})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			load.Stop()
		}
	}()
	const reloads = 20
	for i := 1; i <= reloads; i++ {
		answered := len(load.Snapshot())
		want, wantB := "one", 404
		if i%2 == 1 {
			write(cfgB)
			want, wantB = "two", 200
		} else {
			write(cfgA)
		}
		if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		gw.waitMetric(fmt.Sprintf(`tiercel_config_reloads_total{result="ok"} %d`, i))
		if got := gw.get("/a/1"); got.body != want {
			t.Fatalf("reload %d: /a answered by %q, want %q", i, got.body, want)
		}
		if got := gw.get("/b"); got.status != wantB {
			t.Fatalf("reload %d: /b answered %d, want %d", i, got.status, wantB)
		}
		if got := gw.get("/cached/0"); got.xcache != "HIT-L1" {
			t.Fatalf("reload %d: the unchanged cached route answered %q", i, got.xcache)
		}
		// Some load between reloads, counted in answers rather than slept.
		testwait.For(t, 10*time.Second, fmt.Sprintf("100 more answers to the load after reload %d", i), func() bool {
			return len(load.Snapshot()) >= answered+100
		})
	}
	// The admin endpoint, behind the admin token, reloads too.
	write(cfgA)
	if code, body := gw.post("/admin/reload", ""); code != 401 {
		t.Fatalf("POST /admin/reload without the token: %d %s", code, body)
	}
	if code, body := gw.post("/admin/reload", reloadAdminToken); code != 200 || !strings.Contains(body, `"status":"reloaded"`) {
		t.Fatalf("POST /admin/reload: %d %s", code, body)
	}
	samples := load.Stop()
	stopped = true
	reportLoad(t, samples, reloads+1)

	// A broken file: refused with validate's message, nothing changes.
	write(strings.Replace(cfgB, "upstream: two, auth", "upstream: three, auth", 1))
	_, _, validateErr := runCLI("validate", "-config", path)
	validateErr = strings.TrimSpace(validateErr)
	if !strings.Contains(validateErr, `no upstream named "three"`) {
		t.Fatalf("validate: %q", validateErr)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	gw.waitMetric(`tiercel_config_reloads_total{result="invalid"} 1`)
	code, body := gw.post("/admin/reload", reloadAdminToken)
	if code != 422 || !strings.Contains(body, jsonString(validateErr)) {
		t.Fatalf("POST /admin/reload of a broken file: %d %s\nwant the message %q", code, body, validateErr)
	}
	if got := gw.get("/a/1"); got.body != "one" {
		t.Fatalf("after a broken reload: %+v", got)
	}
	if !strings.Contains(logs.String(), `config reload rejected`) || !strings.Contains(logs.String(), `routes[1].upstream: no upstream named`) {
		t.Fatalf("the log lacks the rejection:\n%s", logs.String())
	}
	// A restart-only setting is named, and refused.
	write(strings.Replace(cfgA, "default_timeout: 2s", "default_timeout: 2s\n  read_timeout: 7s", 1))
	if code, body := gw.post("/admin/reload", reloadAdminToken); code != 422 || !strings.Contains(body, "server.read_timeout") {
		t.Fatalf("restart-only setting: %d %s", code, body)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, logs.String())
		}
		exited <- nil // for the cleanup
	case <-time.After(15 * time.Second):
		t.Fatalf("no exit after SIGTERM\n%s", logs.String())
	}
}

// reportLoad fails on any request that was not a 200, and logs the figures.
func reportLoad(t *testing.T, samples []chaos.Sample, reloads int) {
	t.Helper()
	var lat []time.Duration
	errs := 0
	for _, s := range samples {
		lat = append(lat, s.Latency)
		if s.Status != http.StatusOK {
			errs++
			if errs <= 5 {
				t.Errorf("%s due %s: status %d %s %s", s.Target, s.Due.Format("15:04:05.000"), s.Status, s.Err, s.Body)
			}
		}
	}
	if len(lat) == 0 {
		t.Fatal("no requests answered")
	}
	slices.Sort(lat)
	p99 := lat[(len(lat)*99)/100]
	t.Logf("%d reloads under load: %d requests, %d errors, p50 %v, p99 %v, max %v",
		reloads, len(samples), errs, lat[len(lat)/2], p99, lat[len(lat)-1])
	if errs > 0 {
		t.Fatalf("%d of %d requests failed across the reloads", errs, len(samples))
	}
}

// namedOrigin is a loopback origin answering its name.
func namedOrigin(t *testing.T, name string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		_, _ = io.WriteString(w, name)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// jsonString is s as it appears inside a JSON string.
func jsonString(s string) string {
	return strings.NewReplacer(`"`, `\"`, "\n", `\n`).Replace(s)
}
