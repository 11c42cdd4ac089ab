package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tiercel/tiercel/gateway"
)

// TestAdminListenRefusedAlike: a reachable admin listener without a
// credential is refused by validate and by serve, with the same message,
// whether the address comes from the file, the environment or a flag.
func TestAdminListenRefusedAlike(t *testing.T) {
	want := `server.admin_listen: ":8081" can be reached from other hosts, and server.admin has no credential`
	refused := func(what string, args ...string) {
		t.Helper()
		if code, _, errOut := runCLI(args...); code != 1 || !strings.Contains(errOut, want) {
			t.Fatalf("%s: code %d, stderr %q; want %q", what, code, errOut, want)
		}
	}
	f := func(body string) {
		t.Helper()
		p := writeFile(t, "admin.yaml", body)
		refused("validate", "validate", "-config", p)
		refused("serve", "serve", "-config", p, "-listen", freeAddr(t))
	}
	f("server: {admin_listen: \":8081\"}\n")
	t.Setenv("TIERCEL_ADMIN_LISTEN", ":8081")
	f("server: {admin_listen: \"127.0.0.1:8081\"}\n")
	t.Setenv("TIERCEL_ADMIN_LISTEN", "")
	// validate has no listen flags; serve's flag is checked like the file.
	refused("serve -admin-listen", "serve", "-config", writeFile(t, "lo.yaml", "server: {admin_listen: \"127.0.0.1:8081\"}\n"),
		"-listen", freeAddr(t), "-admin-listen", ":8081")
	p := writeFile(t, "insecure.yaml", "server: {admin_listen: \":8081\", admin: {insecure: true}}\n")
	if code, _, errOut := runCLI("validate", "-config", p); code != 0 {
		t.Fatalf("insecure: true refused: %s", errOut)
	}
	if code, _, errOut := runCLI("validate", "-config", writeFile(t, "default.yaml", "server: {}\n")); code != 0 {
		t.Fatalf("the default admin listener refused: %s", errOut)
	}
}

// TestInvalidateSendsAdminToken posts to a real gateway whose admin
// listener wants a token: refused without it, applied with it, from the
// environment or from a file.
func TestInvalidateSendsAdminToken(t *testing.T) {
	const tok = "test-admin-token-0123456789abcdef"
	t.Setenv("TEST_ADMIN_TOKEN", tok)
	p := writeFile(t, "gw.yaml", `
server: {listen: "127.0.0.1:0", admin_listen: "127.0.0.1:0", admin: {token_env: TEST_ADMIN_TOKEN}}
upstreams: [{name: api, targets: ["127.0.0.1:9"]}]
routes: [{path: "/p/{id}", upstream: api, auth: {mode: none}, cache: {enabled: true, ttl: 1m, tags: ["p:{id}"]}}]
`)
	cfg, err := loadConfig(p, "", overrides{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := gateway.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(t.Context()) })
	admin := "http://" + srv.AdminAddr()

	t.Setenv("TIERCEL_ADMIN_TOKEN", "")
	code, _, errOut := runCLI("invalidate", "-admin", admin, "-tag", "p:1")
	if code != 1 || !strings.Contains(errOut, "answered 401") || !strings.Contains(errOut, `"code":"missing"`) {
		t.Fatalf("without a token: code %d %q", code, errOut)
	}
	t.Setenv("TIERCEL_ADMIN_TOKEN", tok)
	if code, out, errOut := runCLI("invalidate", "-admin", admin, "-tag", "p:1"); code != 0 || !strings.Contains(out, `"applied":"evt-`) {
		t.Fatalf("token from the environment: code %d %q %q", code, out, errOut)
	}
	t.Setenv("TIERCEL_ADMIN_TOKEN", "")
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCLI("invalidate", "-admin", admin, "-admin-token-file", file, "-tag", "p:1"); code != 0 || !strings.Contains(out, `"applied":"evt-`) {
		t.Fatalf("token from a file: code %d %q %q", code, out, errOut)
	}
}
