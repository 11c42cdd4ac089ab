package bench

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// The nginx config carries what the comparison depends on, and nginx
// itself accepts it (`nginx -t`) when it is installed.
func TestNginxConf(t *testing.T) {
	dir := t.TempDir()
	c := nginxConf{Dir: dir, Listen: "127.0.0.1:18080", Origin: "127.0.0.1:19000", Root: os.Geteuid() == 0}
	text, err := c.render()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"worker_processes 1;", "daemon off;", "keepalive_requests 100000000;",
		"proxy_cache_valid 200 1h;", "server 127.0.0.1:19000;", "listen 127.0.0.1:18080",
		"proxy_set_header Connection \"\";", "pid " + dir + "/nginx.pid;",
		"add_header X-Cache $upstream_cache_status;",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("nginx.conf lacks %q:\n%s", want, text)
		}
	}
	if _, err := exec.LookPath("nginx"); err != nil {
		t.Skip("nginx is not installed (make bench-compare installs it): only the text was checked")
	}
	if err := writeConfig(dir, "nginx.conf", text); err != nil {
		t.Fatal(err)
	}
	spec := c.spec(-1)
	if out, err := exec.Command(spec.Path, append(spec.Args, "-t")...).CombinedOutput(); err != nil {
		t.Errorf("nginx -t: %v\n%s", err, out)
	}
}

// The VCL points at the origin, caches for an hour and says HIT or MISS;
// varnishd compiles it (-C) when it is installed.
func TestVarnishConf(t *testing.T) {
	dir := t.TempDir()
	c := varnishConf{Dir: dir, Listen: "127.0.0.1:18081", Origin: "127.0.0.1:19000"}
	text, err := c.render()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"vcl 4.1;", `.host = "127.0.0.1";`, `.port = "19000";`, "set beresp.ttl = 1h;", `resp.http.X-Cache = "HIT"`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("VCL lacks %q:\n%s", want, text)
		}
	}
	spec := strings.Join(c.spec(0).Args, " ")
	if !strings.Contains(spec, "-p thread_pools=1") || !strings.Contains(spec, "-F") {
		t.Errorf("varnishd args %q: want the foreground and one thread pool", spec)
	}
	if _, err := (varnishConf{Origin: "no-port"}).render(); err == nil {
		t.Error("an origin without a port must be an error")
	}
	if _, err := exec.LookPath("varnishd"); err != nil {
		t.Skip("varnishd is not installed (make bench-compare installs it): only the text was checked")
	}
	if err := writeConfig(dir, "default.vcl", text); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("varnishd", "-C", "-j", "none", "-n", filepath.Join(dir, "work"), "-f", filepath.Join(dir, "default.vcl")).CombinedOutput()
	if err != nil {
		t.Errorf("varnishd -C: %v\n%s", err, out)
	}
}

// nginx and Varnish, started as the comparison starts them, serve the
// origin's 1 KiB body and then hits from their cache.
func TestPeersServeCachedHits(t *testing.T) {
	for _, tc := range []struct {
		bin   string
		start func(StackOptions) (*Stack, error)
	}{{"nginx", StartNginx}, {"varnishd", StartVarnish}} {
		t.Run(tc.bin, func(t *testing.T) {
			if _, err := exec.LookPath(tc.bin); err != nil {
				t.Skipf("%s is not installed (make bench-compare installs it)", tc.bin)
			}
			st, err := tc.start(stackOptions(t))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			var last string
			for i := range 3 {
				var req fasthttp.Request
				var resp fasthttp.Response
				req.SetRequestURI(st.URL + comparePath)
				if err := fasthttp.DoTimeout(&req, &resp, 5*time.Second); err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				if resp.StatusCode() != 200 || len(resp.Body()) != 1024 {
					t.Fatalf("request %d: status %d, %d bytes", i, resp.StatusCode(), len(resp.Body()))
				}
				last = string(resp.Header.Peek("X-Cache"))
			}
			if last != "HIT" {
				t.Errorf("third request X-Cache %q, want HIT", last)
			}
			if cpu, err := st.CPU(); err != nil || cpu < 0 {
				t.Errorf("cpu %v %v", cpu, err)
			}
		})
	}
}
