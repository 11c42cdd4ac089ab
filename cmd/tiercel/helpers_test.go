package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tiercel/tiercel/gateway"
	"github.com/tiercel/tiercel/internal/testnet"
	"github.com/tiercel/tiercel/internal/testwait"
)

func freeAddr(t *testing.T) string {
	return "127.0.0.1:" + strconv.Itoa(testnet.FreePort(t))
}

func runCLI(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// refusedAlike runs validate and serve on the config file p and fails t
// unless both exit 1 with want in their stderr, which it returns.
func refusedAlike(t *testing.T, p, want string) (validateErr, serveErr string) {
	t.Helper()
	code, _, vErr := runCLI("validate", "-config", p)
	if code != 1 || !strings.Contains(vErr, want) {
		t.Fatalf("validate: code %d, stderr %q; want %q", code, vErr, want)
	}
	code, _, sErr := runCLI("serve", "-config", p, "-listen", freeAddr(t), "-admin-listen", freeAddr(t))
	if code != 1 || !strings.Contains(sErr, want) {
		t.Fatalf("serve: code %d, stderr %q; want %q", code, sErr, want)
	}
	return vErr, sErr
}

// buildBinary builds this command into a temporary directory, for the
// tests that run it as operators do: as a process, stopped by signals.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tiercel")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// startBinary starts bin with args, env added to the environment, and
// kills it when the test ends. exited receives its exit once; a test that
// takes it puts nil back for the cleanup.
func startBinary(t *testing.T, bin string, env []string, args ...string) (cmd *exec.Cmd, exited chan error, logs *syncBuffer) {
	t.Helper()
	cmd = exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	logs = &syncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited = make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	return cmd, exited, logs
}

// request sends method url with body and, unless token is empty, a
// bearer token, and returns the status and body.
func request(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// gatewayClient talks to a started binary: base is its listener, admin
// its admin listener, logs its stderr for failure messages.
type gatewayClient struct {
	t           *testing.T
	base, admin string
	logs        *syncBuffer
}

type answer struct {
	status int
	body   string
	xcache string
}

func (g gatewayClient) get(path string) answer {
	g.t.Helper()
	resp, err := http.Get(g.base + path)
	if err != nil {
		g.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, string(b), resp.Header.Get("X-Cache")}
}

func (g gatewayClient) post(path, token string) (int, string) {
	g.t.Helper()
	return request(g.t, "POST", g.admin+path, token, "")
}

func (g gatewayClient) waitHealthy() {
	g.t.Helper()
	var err error
	if !testwait.Until(20*time.Second, func() bool {
		var resp *http.Response
		if resp, err = http.Get(g.admin + "/healthz"); err == nil {
			resp.Body.Close()
		}
		return err == nil
	}) {
		g.t.Fatalf("gateway never became healthy: %v\n%s", err, g.logs.String())
	}
}

// waitMetric polls /metrics until a line reads want.
func (g gatewayClient) waitMetric(want string) {
	g.t.Helper()
	if !testwait.Until(10*time.Second, func() bool {
		resp, err := http.Get(g.admin + "/metrics")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return slices.Contains(strings.Split(string(b), "\n"), want)
	}) {
		g.t.Fatalf("no %q in /metrics\n%s", want, g.logs.String())
	}
}

// syncBuffer is a bytes.Buffer the child's stderr and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startDemo starts the embedded demo in process, without Redis, on free
// loopback ports, and returns it with a default `tiercel token`.
func startDemo(t *testing.T) (*gateway.Server, string) {
	t.Helper()
	t.Setenv("TIERCEL_REDIS_URL", "")
	cfg, err := loadConfig("", "127.0.0.1:1", overrides{listen: "127.0.0.1:0", adminListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Server.DrainDelay = -1 // no balancer to wait for
	srv, err := gateway.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	code, out, errOut := runCLI("token", "-sub", "alice")
	if code != 0 {
		t.Fatalf("token: %s", errOut)
	}
	return srv, strings.TrimSpace(out)
}
