package bench

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"text/template"
)

// The peers are configured for the same job as Tiercel's L1-hit route: a
// 1 KiB origin answer cached for an hour, every later request a hit,
// keep-alive connections that last the whole run. Each writes everything
// (config, cache, pid, logs) into its own directory, runs in the
// foreground as the tool's child, and is pinned with its workers.

// nginxConf renders nginx.conf for a proxy_cache in front of origin.
type nginxConf struct {
	Dir, Listen, Origin string
	// Root: nginx started as root switches its workers to "nobody", which
	// cannot write the tool's private directory; run them as root instead.
	Root bool
}

func (c nginxConf) render() (string, error) {
	return renderTemplate(nginxTemplate, c)
}

// One worker process: the comparison is one core each. keepalive_requests
// is raised from its default of 1000, after which nginx closes the
// connection and a load generator would measure reconnects.
var nginxTemplate = template.Must(template.New("nginx").Parse(`# Written by tiercel-bench: nginx proxy_cache in front of the 1 KiB origin.
daemon off;
master_process on;
worker_processes 1;
{{- if .Root}}
user root;
{{- end}}
pid {{.Dir}}/nginx.pid;
error_log {{.Dir}}/error.log warn;
events {
    worker_connections 4096;
}
http {
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    client_body_temp_path {{.Dir}}/client_body;
    proxy_temp_path {{.Dir}}/proxy_temp;
    fastcgi_temp_path {{.Dir}}/fastcgi_temp;
    uwsgi_temp_path {{.Dir}}/uwsgi_temp;
    scgi_temp_path {{.Dir}}/scgi_temp;
    proxy_cache_path {{.Dir}}/cache levels=1:2 keys_zone=bench:16m max_size=256m inactive=1h use_temp_path=off;
    upstream origin {
        server {{.Origin}};
        keepalive 32;
    }
    server {
        listen {{.Listen}} backlog=4096;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache bench;
            proxy_cache_valid 200 1h;
            proxy_cache_lock on;
            proxy_ignore_headers Cache-Control Expires;
            add_header X-Cache $upstream_cache_status;
        }
    }
}
`))

// nginxSpec is the process that serves c.
func (c nginxConf) spec(cpu int) ProcSpec {
	return ProcSpec{
		Name: "nginx", Path: "nginx", CPU: cpu, Addr: c.Listen,
		Args:    []string{"-p", c.Dir, "-e", filepath.Join(c.Dir, "error.log"), "-c", filepath.Join(c.Dir, "nginx.conf")},
		LogPath: filepath.Join(c.Dir, "stderr.log"),
	}
}

// varnishConf renders the VCL for a Varnish cache in front of origin.
type varnishConf struct {
	Dir, Listen, Origin string
}

func (c varnishConf) render() (string, error) {
	host, port, err := net.SplitHostPort(c.Origin)
	if err != nil {
		return "", fmt.Errorf("cannot render the VCL: origin %q: %w", c.Origin, err)
	}
	return renderTemplate(varnishTemplate, struct{ Host, Port string }{host, port})
}

var varnishTemplate = template.Must(template.New("varnish").Parse(`# Written by tiercel-bench: Varnish in front of the 1 KiB origin.
vcl 4.1;

backend origin {
    .host = "{{.Host}}";
    .port = "{{.Port}}";
}

sub vcl_backend_response {
    set beresp.ttl = 1h;
    set beresp.grace = 0s;
}

sub vcl_deliver {
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
}
`))

// spec is varnishd in the foreground (-F). Under taskset every thread
// shares one CPU, so one thread pool (-p thread_pools=1) instead of the
// default two; -j none keeps it from switching to the varnish user, which
// cannot read the tool's private directory.
func (c varnishConf) spec(cpu int) ProcSpec {
	return ProcSpec{
		Name: "varnish", Path: "varnishd", CPU: cpu, Addr: c.Listen,
		Args: []string{
			"-F", "-j", "none", "-a", c.Listen, "-f", filepath.Join(c.Dir, "default.vcl"),
			"-n", filepath.Join(c.Dir, "work"), "-s", "malloc,256m", "-T", "127.0.0.1:0",
			"-p", "thread_pools=1", "-p", "thread_pool_min=100",
		},
		LogPath: filepath.Join(c.Dir, "stderr.log"),
	}
}

func renderTemplate(t *template.Template, data any) (string, error) {
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("cannot render %s config: %w", t.Name(), err)
	}
	return b.String(), nil
}

// writeConfig writes text to dir/name.
func writeConfig(dir, name, text string) error {
	if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
		return fmt.Errorf("cannot write %s: %w", name, err)
	}
	return nil
}
