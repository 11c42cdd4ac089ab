package redisconn

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tiercel/tiercel/internal/defaults"
)

// Modes of Config.Mode.
const (
	ModeSingle   = "single"   // one node (or a proxy in front of many)
	ModeCluster  = "cluster"  // Redis Cluster: keys spread over 16384 slots
	ModeFailover = "failover" // a primary found through Redis Sentinel
)

// Config is the shared Redis (the `redis:` section). Empty (no url, no
// addrs): no Redis; every limit is local and the cache has one tier.
type Config struct {
	// Mode is single (default), cluster or failover (Sentinel).
	Mode string `yaml:"mode"`
	// URL is the single node as redis://[user:pass@]host:port/db, or
	// rediss:// for TLS; go-redis's query options (pool_size=...) apply.
	// In cluster mode it may be go-redis's cluster URL instead of addrs:
	// redis://host:port?addr=host2:port&addr=host3:port.
	URL string `yaml:"url"`
	// Addrs are host:port seeds: the cluster's nodes (any few: the client
	// learns the rest), the Sentinels in failover mode, or the one node in
	// single mode without a URL.
	Addrs []string `yaml:"addrs"`
	// MasterName is the primary's name in Sentinel (failover mode only).
	MasterName string `yaml:"master_name"`
	// Username and Password authenticate to Redis (ACL user or
	// requirepass); a password in the URL wins. SentinelPassword is the
	// Sentinels' own, when they have one.
	Username         string `yaml:"username"`
	Password         string `yaml:"password"`
	SentinelPassword string `yaml:"sentinel_password"`
	// DB is the database number (single and failover; a cluster has only 0).
	DB int `yaml:"db"`
	// TLS dials every node with TLS (rediss:// turns it on too).
	TLS TLSConfig `yaml:"tls"`
	// PoolSize is connections per CPU and per node; default go-redis's (10).
	PoolSize int `yaml:"pool_size"`
	// DialTimeout default 200ms: a Redis that cannot be reached must not stall
	// anything for long.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// MaxRedirects is how many MOVED/ASK redirections (and retries on
	// another node) one cluster command follows while slots move during a
	// resharding or failover; default 3. Bounded by each call's budget.
	MaxRedirects int `yaml:"max_redirects"`
}

// TLSConfig is the client side of TLS to Redis.
type TLSConfig struct {
	Enabled bool `yaml:"enabled"`
	// CAFile verifies the servers (PEM); default the system's roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a client certificate, for mutual TLS.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name verified in the servers' certificates.
	ServerName string `yaml:"server_name"`
}

// Enabled reports whether a Redis is configured at all.
func (c *Config) Enabled() bool { return c.URL != "" || len(c.Addrs) > 0 }

// SetDefaults fills the documented defaults.
func (c *Config) SetDefaults() {
	defaults.Set(&c.Mode, ModeSingle)
	defaults.Set(&c.DialTimeout, 200*time.Millisecond)
	defaults.Set(&c.MaxRedirects, 3)
}

// Env are the environment variables ApplyEnv reads, each overriding the
// config key it names.
var Env = []string{"TIERCEL_REDIS_MODE", "TIERCEL_REDIS_URL", "TIERCEL_REDIS_ADDRS",
	"TIERCEL_REDIS_MASTER_NAME", "TIERCEL_REDIS_USERNAME", "TIERCEL_REDIS_PASSWORD"}

// ApplyEnv overrides the config with the TIERCEL_REDIS_* variables that
// lookup finds set and non-empty: MODE, URL, ADDRS (comma-separated),
// MASTER_NAME, USERNAME and PASSWORD. Setting URL clears addrs and
// setting ADDRS clears url, so one variable is enough to point a file's
// config elsewhere.
func (c *Config) ApplyEnv(lookup func(string) (string, bool)) {
	get := func(k string) (string, bool) {
		v, ok := lookup(k)
		return v, ok && v != ""
	}
	if v, ok := get("TIERCEL_REDIS_MODE"); ok {
		c.Mode = v
	}
	if v, ok := get("TIERCEL_REDIS_URL"); ok {
		c.URL, c.Addrs = v, nil
	}
	if v, ok := get("TIERCEL_REDIS_ADDRS"); ok {
		c.URL, c.Addrs = "", nil
		for _, a := range strings.Split(v, ",") {
			if a = strings.TrimSpace(a); a != "" {
				c.Addrs = append(c.Addrs, a)
			}
		}
	}
	if v, ok := get("TIERCEL_REDIS_MASTER_NAME"); ok {
		c.MasterName = v
	}
	if v, ok := get("TIERCEL_REDIS_USERNAME"); ok {
		c.Username = v
	}
	if v, ok := get("TIERCEL_REDIS_PASSWORD"); ok {
		c.Password = v
	}
}

// Validate reports every problem of the config, each as "redis.key:
// reason"; it is Options without its result.
func (c *Config) Validate() error {
	_, err := c.Options()
	return err
}

// Options are the client options a config stands for: exactly one field
// is set, by Mode. It is the only parser of the config, so what validate
// accepts is what serve builds.
type Options struct {
	Single   *redis.Options
	Cluster  *redis.ClusterOptions
	Failover *redis.FailoverOptions
}

// Options parses and checks the config (defaults filled), reporting every
// problem at once.
func (c *Config) Options() (Options, error) {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	var o Options
	if !c.Enabled() {
		if c.Mode != "" && c.Mode != ModeSingle {
			add("redis.mode: %s needs redis.addrs", c.Mode)
		}
		return o, errors.Join(errs...)
	}
	for i, a := range c.Addrs {
		if err := checkAddr(a); err != nil {
			add("redis.addrs[%d]: %w", i, err)
		}
	}
	if c.PoolSize < 0 {
		add("redis.pool_size: must be >= 0")
	}
	if c.DialTimeout < 0 {
		add("redis.dial_timeout: must be >= 0")
	}
	if c.MaxRedirects < 0 {
		add("redis.max_redirects: must be >= 0")
	}
	if c.DB < 0 {
		add("redis.db: must be >= 0")
	}
	tlsConf, err := c.TLS.build()
	if err != nil {
		add("redis.tls: %w", err)
	}
	switch c.Mode {
	case ModeSingle, "":
		o.Single = c.single(add)
	case ModeCluster:
		o.Cluster = c.cluster(add)
	case ModeFailover:
		o.Failover = c.failover(add)
	default:
		add("redis.mode: %q is not one of single, cluster, failover", c.Mode)
	}
	if len(errs) > 0 {
		return Options{}, errors.Join(errs...)
	}
	c.apply(o, tlsConf)
	return o, nil
}

func (c *Config) single(add func(string, ...any)) *redis.Options {
	switch {
	case c.URL != "" && len(c.Addrs) > 0:
		add("redis: give url or addrs, not both")
		return nil
	case len(c.Addrs) > 1:
		add("redis.addrs: %d addresses in single mode: for a Redis Cluster set redis.mode: cluster, for Sentinel redis.mode: failover", len(c.Addrs))
		return nil
	case len(c.Addrs) == 1:
		return &redis.Options{Addr: c.Addrs[0], DB: c.DB}
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
		add("redis.url: %q is not a redis:// or rediss:// URL", redact(c.URL))
		return nil
	}
	// Two forms that look like several nodes would parse as one odd host,
	// or be refused by the single-node parser: say what to write instead.
	if strings.Contains(u.Host, ",") || u.Query().Has("addr") {
		add("redis.url: %q names several nodes: for a Redis Cluster set redis.mode: cluster (and list them in redis.addrs, or keep go-redis's ?addr= form in the url)", redact(c.URL))
		return nil
	}
	opts, err := redis.ParseURL(c.URL)
	if err != nil {
		add("redis.url: %v", err)
		return nil
	}
	if c.DB != 0 {
		opts.DB = c.DB
	}
	return opts
}

func (c *Config) cluster(add func(string, ...any)) *redis.ClusterOptions {
	if c.DB != 0 {
		add("redis.db: a Redis Cluster has only database 0")
	}
	if c.MasterName != "" {
		add("redis.master_name: only in failover mode")
	}
	switch {
	case c.URL != "" && len(c.Addrs) > 0:
		add("redis: give url or addrs, not both")
		return nil
	case len(c.Addrs) > 0:
		return &redis.ClusterOptions{Addrs: c.Addrs}
	}
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || strings.Contains(u.Host, ",") {
		add("redis.url: %q is not a redis:// or rediss:// URL of one node (more nodes go in ?addr= or in redis.addrs)", redact(c.URL))
		return nil
	}
	opts, err := redis.ParseClusterURL(c.URL)
	if err != nil {
		add("redis.url: %v", err)
		return nil
	}
	return opts
}

func (c *Config) failover(add func(string, ...any)) *redis.FailoverOptions {
	if c.URL != "" {
		add("redis.url: failover mode takes the Sentinels in redis.addrs and redis.master_name")
	}
	if len(c.Addrs) == 0 {
		add("redis.addrs: failover mode needs the Sentinels' addresses")
	}
	if c.MasterName == "" {
		add("redis.master_name: failover mode needs the primary's name in Sentinel")
	}
	return &redis.FailoverOptions{SentinelAddrs: c.Addrs, MasterName: c.MasterName,
		SentinelPassword: c.SentinelPassword, DB: c.DB}
}

// apply sets what every mode shares: credentials, TLS, timeouts, pool.
// Per-call budgets come from contexts (ContextTimeoutEnabled); go-redis's
// own retries would multiply them, so they are off, but a cluster follows
// MaxRedirects redirections inside the same budget.
func (c *Config) apply(o Options, tlsConf *tls.Config) {
	set := func(user, pass *string, tc **tls.Config, dial *time.Duration, pool, retries *int, ctxTimeout *bool) {
		if *user == "" {
			*user = c.Username
		}
		if *pass == "" {
			*pass = c.Password
		}
		if tlsConf != nil {
			*tc = tlsConf
		}
		*dial = c.DialTimeout
		if c.PoolSize > 0 {
			*pool = c.PoolSize
		}
		*retries = -1
		*ctxTimeout = true
	}
	switch {
	case o.Single != nil:
		s := o.Single
		set(&s.Username, &s.Password, &s.TLSConfig, &s.DialTimeout, &s.PoolSize, &s.MaxRetries, &s.ContextTimeoutEnabled)
	case o.Cluster != nil:
		s := o.Cluster
		set(&s.Username, &s.Password, &s.TLSConfig, &s.DialTimeout, &s.PoolSize, &s.MaxRetries, &s.ContextTimeoutEnabled)
		s.MaxRedirects = c.MaxRedirects
	case o.Failover != nil:
		s := o.Failover
		set(&s.Username, &s.Password, &s.TLSConfig, &s.DialTimeout, &s.PoolSize, &s.MaxRetries, &s.ContextTimeoutEnabled)
	}
}

// build returns the TLS config (nil: plain TCP, or whatever rediss:// set).
func (t *TLSConfig) build() (*tls.Config, error) {
	if !t.Enabled {
		if t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.ServerName != "" {
			return nil, errors.New("files or server_name given but enabled is false")
		}
		return nil, nil
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("cannot read ca_file: %w", err)
		}
		conf.RootCAs = x509.NewCertPool()
		if !conf.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s holds no PEM certificate", t.CAFile)
		}
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, errors.New("cert_file and key_file go together")
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("cannot load the client certificate: %w", err)
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	return conf, nil
}

func checkAddr(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("%q is not host:port", a)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || host == "" {
		return fmt.Errorf("%q is not host:port", a)
	}
	return nil
}

// redact hides a URL's password in messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(a URL that does not parse)"
	}
	if u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
