package redisconn

import (
	"strings"
	"testing"
)

// TestOptions: every form is parsed by Options alone, so validate and
// serve agree; forms that cannot work are refused with a message saying
// what to write instead.
func TestOptions(t *testing.T) {
	f := func(cfg Config, wantMode string, wantErr ...string) {
		t.Helper()
		cfg.SetDefaults()
		o, err := cfg.Options()
		if len(wantErr) > 0 {
			if err == nil {
				t.Fatalf("%+v: accepted, want an error with %q", cfg, wantErr)
			}
			for _, w := range wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("%+v: error %q, want it to contain %q", cfg, err, w)
				}
			}
			if cfg.Validate() == nil {
				t.Fatalf("Validate accepts what Options refuses")
			}
			return
		}
		if err != nil {
			t.Fatalf("%+v: %v", cfg, err)
		}
		got := ""
		switch {
		case o.Single != nil:
			got = ModeSingle
			if o.Single.MaxRetries != -1 || !o.Single.ContextTimeoutEnabled {
				t.Fatalf("single: retries %d, context timeouts %v", o.Single.MaxRetries, o.Single.ContextTimeoutEnabled)
			}
		case o.Cluster != nil:
			got = ModeCluster
			if o.Cluster.MaxRedirects != cfg.MaxRedirects || o.Cluster.MaxRedirects <= 0 {
				t.Fatalf("cluster: max redirects %d", o.Cluster.MaxRedirects)
			}
		case o.Failover != nil:
			got = ModeFailover
		}
		if got != wantMode {
			t.Fatalf("%+v: mode %q, want %q", cfg, got, wantMode)
		}
	}
	f(Config{}, "")
	f(Config{URL: "redis://127.0.0.1:6379/0"}, ModeSingle)
	f(Config{URL: "rediss://u:p@cache.example:6380/2?pool_size=20"}, ModeSingle)
	f(Config{Addrs: []string{"127.0.0.1:6379"}}, ModeSingle)
	f(Config{Mode: ModeCluster, Addrs: []string{"10.0.0.1:7000", "10.0.0.2:7000"}}, ModeCluster)
	f(Config{Mode: ModeCluster, URL: "redis://10.0.0.1:7000?addr=10.0.0.2:7000&addr=10.0.0.3:7000"}, ModeCluster)
	f(Config{Mode: ModeFailover, Addrs: []string{"10.0.0.1:26379"}, MasterName: "main"}, ModeFailover)

	// Seen in the issue: both passed validate and never worked.
	f(Config{URL: "redis://10.0.0.1:7000,10.0.0.2:7000,10.0.0.3:7000"}, "", "names several nodes", "redis.mode: cluster")
	f(Config{URL: "redis://10.0.0.1:7000?addr=10.0.0.2:7000"}, "", "names several nodes")
	f(Config{Addrs: []string{"10.0.0.1:7000", "10.0.0.2:7000"}}, "", "redis.mode: cluster")
	f(Config{URL: "http://10.0.0.1:6379"}, "", "not a redis:// or rediss:// URL")
	f(Config{URL: "redis://10.0.0.1:6379/a/b"}, "", "redis.url")
	f(Config{URL: "redis://10.0.0.1:6379", Addrs: []string{"10.0.0.1:6379"}}, "", "not both")
	f(Config{Mode: "sharded", URL: "redis://a:1"}, "", `redis.mode: "sharded"`)
	f(Config{Mode: ModeCluster}, "", "redis.mode: cluster needs redis.addrs")
	f(Config{Mode: ModeCluster, Addrs: []string{"a:1"}, DB: 2}, "", "only database 0")
	f(Config{Mode: ModeCluster, Addrs: []string{"nohost"}}, "", "redis.addrs[0]")
	f(Config{Mode: ModeFailover, Addrs: []string{"a:26379"}}, "", "master_name")
	f(Config{Mode: ModeFailover, URL: "redis://a:1", MasterName: "m"}, "", "redis.addrs", "redis.url")
	f(Config{URL: "redis://a:1", TLS: TLSConfig{CAFile: "/x"}}, "", "redis.tls")
	f(Config{URL: "redis://a:1", TLS: TLSConfig{Enabled: true, CAFile: "/does/not/exist"}}, "", "ca_file")
	f(Config{URL: "redis://a:1", TLS: TLSConfig{Enabled: true, CertFile: "/x"}}, "", "go together")
	f(Config{URL: "redis://a:1", PoolSize: -1, MaxRedirects: -1}, "", "pool_size", "max_redirects")

	// A password never reaches a message.
	cfg := Config{URL: "redis://u:s3cret@a:1,b:2"}
	if err := cfg.Validate(); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("error %v shows the password", err)
	}
}

// TestOptionsShared: credentials, TLS, timeouts and pool reach every mode.
func TestOptionsShared(t *testing.T) {
	for _, cfg := range []Config{
		{URL: "redis://a:1"},
		{Mode: ModeCluster, Addrs: []string{"a:1"}},
		{Mode: ModeFailover, Addrs: []string{"a:1"}, MasterName: "m"},
	} {
		cfg.Username, cfg.Password, cfg.PoolSize = "svc", "pw", 7
		cfg.TLS.Enabled, cfg.TLS.ServerName = true, "redis.internal"
		cfg.SetDefaults()
		o, err := cfg.Options()
		if err != nil {
			t.Fatal(err)
		}
		var user, pass, sni string
		var pool int
		switch {
		case o.Single != nil:
			user, pass, pool, sni = o.Single.Username, o.Single.Password, o.Single.PoolSize, o.Single.TLSConfig.ServerName
		case o.Cluster != nil:
			user, pass, pool, sni = o.Cluster.Username, o.Cluster.Password, o.Cluster.PoolSize, o.Cluster.TLSConfig.ServerName
		case o.Failover != nil:
			user, pass, pool, sni = o.Failover.Username, o.Failover.Password, o.Failover.PoolSize, o.Failover.TLSConfig.ServerName
		}
		if user != "svc" || pass != "pw" || pool != 7 || sni != "redis.internal" {
			t.Fatalf("%s: user %q pass %q pool %d sni %q", cfg.Mode, user, pass, pool, sni)
		}
	}
}

func TestApplyEnv(t *testing.T) {
	env := map[string]string{}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cfg := Config{URL: "redis://file:6379"}
	env["TIERCEL_REDIS_MODE"] = "cluster"
	env["TIERCEL_REDIS_ADDRS"] = "10.0.0.1:7000, 10.0.0.2:7000,"
	env["TIERCEL_REDIS_PASSWORD"] = "pw"
	env["TIERCEL_REDIS_USERNAME"] = ""
	cfg.ApplyEnv(lookup)
	if cfg.Mode != ModeCluster || cfg.URL != "" || len(cfg.Addrs) != 2 || cfg.Addrs[1] != "10.0.0.2:7000" || cfg.Password != "pw" || cfg.Username != "" {
		t.Fatalf("after env: %+v", cfg)
	}
	env = map[string]string{"TIERCEL_REDIS_URL": "redis://env:6379", "TIERCEL_REDIS_MODE": "single", "TIERCEL_REDIS_MASTER_NAME": "m"}
	cfg.ApplyEnv(lookup)
	if cfg.URL != "redis://env:6379" || cfg.Addrs != nil || cfg.Mode != ModeSingle || cfg.MasterName != "m" {
		t.Fatalf("after env: %+v", cfg)
	}
	for _, k := range Env {
		if !strings.HasPrefix(k, "TIERCEL_REDIS_") {
			t.Fatalf("%s", k)
		}
	}
}
