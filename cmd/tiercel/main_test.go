package main

import (
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tiercel/tiercel/internal/testredis"
	"github.com/tiercel/tiercel/internal/testwait"
)

func TestValidate(t *testing.T) {
	good := writeFile(t, "good.yaml", `
auth:
  issuers:
    - {issuer: me, algorithms: [HS256], keys: [{secret: "${SECRET}"}]}
upstreams:
  - {name: api, targets: ["127.0.0.1:9"]}
routes:
  - {path: "/api/{id}", upstream: api}
`)
	t.Setenv("SECRET", strings.Repeat("s", 32))
	if code, out, errOut := runCLI("validate", "-config", good); code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("valid config: code %d, %q %q", code, out, errOut)
	}
	f := func(body, want string) {
		t.Helper()
		p := writeFile(t, "bad.yaml", body)
		code, _, errOut := runCLI("validate", "-config", p)
		if code != 1 || !strings.Contains(errOut, p+": "+want) {
			t.Fatalf("code %d, stderr %q; want it to contain %q", code, errOut, p+": "+want)
		}
	}
	f("server:\n  listen: \":8080\"\n  lisen: x\n", `server.lisen: unknown field (line 3); did you mean "listen"?`)
	f("routes:\n  - {path: /x, upstream: nope, auth: {mode: none}}\n", `routes[0].upstream: no upstream named "nope"`)
	f("upstreams: [{name: a, targets: []}]\n", `upstreams[0].targets`)
	f("auth:\n  issuers: [{issuer: x, algorithms: [none]}]\n", `auth.issuers[0].algorithms[0]`)
	f("auth:\n  issuers: [{issuer: x, algorithms: [RS256], jwks_url: \"https://x/jwks\", jwks_max_stale: 1m}]\n",
		`auth.issuers[0].jwks_max_stale: 1m0s is shorter than jwks_refresh (5m0s)`)
	f("rate_limit:\n  policies: {p: {rate: -1}}\n", `rate_limit.policies.p.rate`)
	f("server: {max_body_bytes: lots}\n", `server.max_body_bytes: cannot unmarshal`)
	f("log: {level: loud}\n", `log.level: "loud" is not one of`)
	// kafka's brokers, topic and dial_timeout are invalidation.Endpoint's,
	// inline: found, checked and suggested at the section's top level.
	f("kafka:\n  brokers: [\"k:1\"]\n  dial_timout: 1s\n", `kafka.dial_timout: unknown field (line 3); did you mean "dial_timeout"?`)
	f("kafka: {brokers: [\"k:1\"], topic: t, dial_timeout: -1s}\n", `kafka.dial_timeout: must not be negative`)
	f("kafka: {brokers: [k], max_wait: 1s}\n", `kafka.brokers[0]: "k" is not host:port`)
	// Every problem of a section, each on a line of its own with its path.
	f("cache: {fill_timeout: -1s, breaker: {cooldown: -1s}}\n", "cache.fill_timeout: must not be negative")
	f("cache: {fill_timeout: -1s, breaker: {cooldown: -1s}}\n", "cache.breaker.cooldown: must not be negative")
	f("rate_limit: {breaker: {failures: 2, cooldown: -1s}}\n", "rate_limit.breaker.cooldown: must not be negative")
	if code, _, errOut := runCLI("validate", "-config", "/does/not/exist.yaml"); code != 1 || !strings.Contains(errOut, "cannot read config") {
		t.Fatalf("missing file: code %d %q", code, errOut)
	}
}

func TestTokenCommand(t *testing.T) {
	code, out, errOut := runCLI("token", "-sub", "alice", "-tenant", "acme", "-plan", "pro", "-ttl", "5m")
	if code != 0 {
		t.Fatalf("code %d: %s", code, errOut)
	}
	parts := strings.Split(strings.TrimSpace(out), ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", out)
	}
	if code, _, _ := runCLI("token"); code != 2 {
		t.Fatalf("token without -sub: code %d", code)
	}
}

func TestUnknownCommand(t *testing.T) {
	if code, _, errOut := runCLI("frobnicate"); code != 2 || !strings.Contains(errOut, "unknown command") {
		t.Fatalf("code %d %q", code, errOut)
	}
}

// TestServeDemo runs the real binary the way `make run` does: the embedded
// demo, a token from `tiercel token`, a proxied request, then SIGTERM.
func TestServeDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	listen, admin := freeAddr(t), freeAddr(t)
	cmd, exited, logs := startBinary(t, bin, []string{"TIERCEL_ADMIN_LISTEN=" + admin, "TIERCEL_REDIS_URL="}, "serve", "-listen", listen)
	gatewayClient{t: t, base: "http://" + listen, admin: "http://" + admin, logs: logs}.waitHealthy()
	tok, err := exec.Command(bin, "token", "-sub", "alice").Output()
	if err != nil {
		t.Fatal(err)
	}
	get := func(path, token string) (int, string) { return request(t, "GET", "http://"+listen+path, token, "") }
	code, body := get("/api/products/42", strings.TrimSpace(string(tok)))
	var p struct {
		ID      string `json:"id"`
		Version int    `json:"version"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &p) != nil || p.ID != "42" || p.Version < 1 {
		t.Fatalf("demo product: %d %s", code, body)
	}
	if code, _ := get("/api/products/42", ""); code != 401 {
		t.Fatalf("demo without token: %d", code)
	}
	// Without Kafka, `tiercel invalidate -admin` posts the event JSON.
	out, err := exec.Command(bin, "invalidate", "-admin", "http://"+admin, "-tag", "product:42").CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"applied":"evt-`) {
		t.Fatalf("invalidate -admin: %v %s", err, out)
	}
	// SIGTERM: not ready at once, still serving for the drain delay (5s
	// by default); a second signal stops at once.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var status int
	if !testwait.Until(5*time.Second, func() bool {
		resp, err := http.Get("http://" + admin + "/readyz")
		if err != nil {
			t.Fatalf("/readyz after SIGTERM: %v\n%s", err, logs.String())
		}
		resp.Body.Close()
		status = resp.StatusCode
		return status == 503
	}) {
		t.Fatalf("/readyz still %d after SIGTERM", status)
	}
	if code, _ := get("/api/products/42", strings.TrimSpace(string(tok))); code != 200 {
		t.Fatalf("during the drain delay: %d", code)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		// The second signal cut the drain short: exit status 1, by design.
		exited <- nil // for the cleanup
	case <-time.After(4 * time.Second):
		t.Fatalf("no exit after a second signal\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "second signal: stopping without draining") {
		t.Fatalf("the second signal was not what stopped it:\n%s", logs.String())
	}
}

// TestExampleConfigsValidate keeps the shipped example configs loadable.
func TestExampleConfigsValidate(t *testing.T) {
	t.Setenv("CATALOG_HMAC_SECRET", strings.Repeat("x", 40))
	t.Setenv("TIERCEL_JWT_SECRET", strings.Repeat("y", 40))
	t.Setenv("TIERCEL_ADMIN_TOKEN", strings.Repeat("z", 40))
	files, _ := filepath.Glob("../../deploy/examples/*.yaml")
	if len(files) == 0 {
		t.Fatal("no example configs found")
	}
	for _, f := range files {
		if code, _, errOut := runCLI("validate", "-config", f); code != 0 {
			t.Errorf("%s: %s", f, errOut)
		}
	}
}

// TestServeRefusesSingleModeOnCluster: `tiercel serve` with redis.url on a
// Redis Cluster node (issue 15) exits at once with what to write instead,
// rather than serving with a client that would follow no MOVED reply.
func TestServeRefusesSingleModeOnCluster(t *testing.T) {
	c := testredis.StartCluster(t, 3, 0)
	cfg := writeFile(t, "cluster.yaml", `
server: {listen: "`+freeAddr(t)+`", admin_listen: "`+freeAddr(t)+`"}
redis: {url: "redis://`+c.Addrs()[0]+`"}
upstreams:
  - {name: api, targets: ["127.0.0.1:9"]}
routes:
  - {path: "/api/{id}", upstream: api, auth: {mode: none}, cache: {enabled: true}}
`)
	type result struct {
		code           int
		stdout, stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, o, e := runCLI("serve", "-config", cfg)
		done <- result{code, o, e}
	}()
	select {
	case r := <-done:
		if r.code != 1 || !strings.Contains(r.stderr, "redis.mode: cluster") {
			t.Fatalf("serve: code %d, stderr %q; want 1 and a refusal naming redis.mode: cluster", r.code, r.stderr)
		}
	case <-time.After(30 * time.Second):
		// A hang guard: serve would run until a signal had it started.
		t.Fatal("serve started against a cluster node in single mode")
	}
}
