package bench

import (
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tiercel/tiercel/gateway/auth"
)

// The generated config must be one the gateway accepts: `tiercel validate`
// is the gateway's own check, run through `go run` so the test needs no
// prebuilt binary. The token must verify with the same issuer settings.
func TestGatewayConfValidates(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/tiercel")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "tiercel")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/tiercel").CombinedOutput(); err != nil {
		t.Fatalf("cannot build tiercel: %v\n%s", err, out)
	}
	f := func(c gatewayConf) {
		t.Helper()
		text, err := c.render()
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "gw.yaml")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(bin, "validate", "-config", path).CombinedOutput(); err != nil {
			t.Errorf("tiercel validate %+v: %v\n%s\n%s", c, err, out, text)
		}
		if c.Auth != strings.Contains(text, "scopes: [products:read]") || c.RateLimit != strings.Contains(text, "rate_limit: bench") {
			t.Errorf("auth %v rate limit %v not reflected in\n%s", c.Auth, c.RateLimit, text)
		}
	}
	base := gatewayConf{Listen: "127.0.0.1:1", Admin: "127.0.0.1:2", Origin: "127.0.0.1:3", Secret: newSecret()}
	f(base)
	all := base
	all.Auth, all.RateLimit, all.RedisURL, all.L1Bytes, all.KafkaBroker = true, true, "redis://127.0.0.1:4/0", 1<<20, "127.0.0.1:5"
	f(all)
	cluster := all
	cluster.RedisURL, cluster.RedisCluster = "", []string{"127.0.0.1:6", "127.0.0.1:7", "127.0.0.1:8"}
	f(cluster)
	cluster.ClusterScripts = true
	f(cluster)
	cluster.L1Bytes = 0
	f(cluster)
}

func TestGatewayToken(t *testing.T) {
	c := gatewayConf{Secret: newSecret()}
	tok, err := c.token(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.New(auth.Config{Issuers: []auth.IssuerConfig{c.issuer()}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	p, err := v.VerifyBearer([]byte("Bearer "+tok), time.Time{})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if p.Subject != "bench" || !p.HasScopes([]string{"products:read", "features:read", "predict"}) {
		t.Errorf("principal %+v", p)
	}
}
