package gateway

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
)

// AdminConfig guards the admin listener (server.admin_listen). Its
// sensitive endpoints, /admin/* and /debug/pprof/*, change what is cached
// or expose memory and CPU profiles: anyone who can reach them owns the
// cache. A listener that other hosts can reach therefore needs a
// credential, a bearer token or a client certificate, or an explicit
// insecure: true.
type AdminConfig struct {
	// TokenFile holds the bearer token (surrounding white space ignored),
	// e.g. a mounted Kubernetes Secret. Read at start: a new token needs a
	// restart. At least 16 bytes; `openssl rand -hex 32` makes a good one.
	TokenFile string `yaml:"token_file"`
	// TokenEnv names an environment variable holding the token instead
	// (e.g. TIERCEL_ADMIN_TOKEN). One of token_file, token_env.
	TokenEnv string `yaml:"token_env"`
	// TLSCertFile and TLSKeyFile serve the admin listener over TLS
	// (PEM). Without them it speaks plain HTTP, and a token crosses the
	// network readable: use TLS where that network is not trusted.
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// ClientCAFile (PEM) admits a client certificate signed by one of its
	// CAs as a credential, like the token (mTLS); it needs tls_cert_file.
	// A certificate is asked for, not required, so probes and Prometheus
	// can still reach the open endpoints without one.
	ClientCAFile string `yaml:"client_ca_file"`
	// Pprof serves /debug/pprof/*; default true. false: 404.
	Pprof *bool `yaml:"pprof"`
	// ProtectMetrics and ProtectHealth put /metrics, and /healthz with
	// /readyz, behind the credential too (default false: scrapers and
	// probes rarely carry one, and these reveal little).
	ProtectMetrics bool `yaml:"protect_metrics"`
	ProtectHealth  bool `yaml:"protect_health"`
	// Insecure lets a non-loopback listener serve without a credential
	// (logged as a warning at start). Only for a network nobody else can
	// reach.
	Insecure bool `yaml:"insecure"`
}

// minAdminTokenLen refuses tokens short enough to guess.
const minAdminTokenLen = 16

func (a *AdminConfig) setDefaults() {
	if a.Pprof == nil {
		on := true
		a.Pprof = &on
	}
}

// adminCreds are the admin credentials, loaded once: the token and, for
// TLS, the server's certificate and the client CAs.
type adminCreds struct {
	token []byte // nil: no token
	tls   *tls.Config
}

func (c adminCreds) any() bool { return c.token != nil || (c.tls != nil && c.tls.ClientCAs != nil) }

// load reads every file and variable the section names, so validate and
// serve refuse the same configs with the same messages.
func (a *AdminConfig) load(listen string) (adminCreds, error) {
	var creds adminCreds
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch {
	case a.TokenFile != "" && a.TokenEnv != "":
		add("server.admin: set one of token_file, token_env")
	case a.TokenFile != "":
		b, err := os.ReadFile(a.TokenFile)
		if err != nil {
			add("server.admin.token_file: cannot read the token: %w", err)
		} else if creds.token, err = checkToken(b); err != nil {
			add("server.admin.token_file: %s %w", a.TokenFile, err)
		}
	case a.TokenEnv != "":
		var err error
		if creds.token, err = checkToken([]byte(os.Getenv(a.TokenEnv))); err != nil {
			add("server.admin.token_env: $%s %w", a.TokenEnv, err)
		}
	}
	var err error
	if creds.tls, err = a.loadTLS(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return creds, errors.Join(errs...)
	}
	if !creds.any() {
		if a.ProtectMetrics || a.ProtectHealth {
			add("server.admin: protect_metrics and protect_health need a credential (token_file, token_env or client_ca_file)")
		}
		if _, _, err := net.SplitHostPort(listen); err == nil && !isLoopbackListen(listen) && !a.Insecure {
			add("server.admin_listen: %q can be reached from other hosts, and server.admin has no credential: "+
				"set server.admin.token_file, token_env or client_ca_file, listen on loopback (127.0.0.1:8081), "+
				"or set server.admin.insecure: true", listen)
		}
	}
	return creds, errors.Join(errs...)
}

func checkToken(b []byte) ([]byte, error) {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return nil, errors.New("is empty")
	case len(b) < minAdminTokenLen:
		return nil, fmt.Errorf("is %d bytes, shorter than %d: make one with `openssl rand -hex 32`", len(b), minAdminTokenLen)
	}
	return b, nil
}

func (a *AdminConfig) loadTLS() (*tls.Config, error) {
	if a.TLSCertFile == "" && a.TLSKeyFile == "" {
		if a.ClientCAFile != "" {
			return nil, errors.New("server.admin.client_ca_file: needs tls_cert_file and tls_key_file (mTLS is TLS)")
		}
		return nil, nil
	}
	if a.TLSCertFile == "" || a.TLSKeyFile == "" {
		return nil, errors.New("server.admin: tls_cert_file and tls_key_file go together")
	}
	cert, err := tls.LoadX509KeyPair(a.TLSCertFile, a.TLSKeyFile)
	if err != nil {
		return nil, fmt.Errorf("server.admin.tls_cert_file: cannot load the key pair: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if a.ClientCAFile == "" {
		return cfg, nil
	}
	pem, err := os.ReadFile(a.ClientCAFile)
	if err != nil {
		return nil, fmt.Errorf("server.admin.client_ca_file: cannot read: %w", err)
	}
	cfg.ClientCAs = x509.NewCertPool()
	if !cfg.ClientCAs.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("server.admin.client_ca_file: %s holds no PEM certificate", a.ClientCAFile)
	}
	// Asked for, not required: the open endpoints serve probes without
	// one, and the handler checks it on the protected ones.
	cfg.ClientAuth = tls.VerifyClientCertIfGiven
	return cfg, nil
}

// isLoopbackListen reports whether a listen address binds only to this
// host's loopback interface: an IP in 127.0.0.0/8 or ::1 (IPv4-mapped
// included), or the name localhost. An empty host (":8081"), 0.0.0.0, ::
// and every other name listen on, or may resolve to, a reachable address.
func isLoopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// isLoopbackAddr checks the address actually bound: "localhost" is
// resolved by the system, and a hosts file could point it elsewhere.
func isLoopbackAddr(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}
