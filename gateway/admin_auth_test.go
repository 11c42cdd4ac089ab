package gateway

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestIsLoopbackListen(t *testing.T) {
	f := func(addr string, want bool) {
		t.Helper()
		if got := isLoopbackListen(addr); got != want {
			t.Fatalf("isLoopbackListen(%q) = %v, want %v", addr, got, want)
		}
	}
	f("127.0.0.1:8081", true)
	f("127.255.0.9:8081", true) // all of 127.0.0.0/8
	f("[::1]:8081", true)
	f("[::ffff:127.0.0.1]:8081", true)
	f("localhost:8081", true)
	f("LocalHost:0", true)
	f(":8081", false) // every interface
	f("0.0.0.0:8081", false)
	f("[::]:8081", false)
	f("10.0.0.7:8081", false)
	f("128.0.0.1:8081", false)
	f("[::2]:8081", false)
	f("localhost.:8081", false) // a name the resolver may send to DNS
	f("localhost.example.com:8081", false)
	f("admin:8081", false)
	f("127.0.0.1", false) // no port: not an address at all
	f("", false)
}

const testAdminToken = "0123456789abcdef0123456789abcdef"

func TestAdminConfigValidate(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(testAdminToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(t.TempDir(), "short")
	_ = os.WriteFile(short, []byte("abc\n"), 0o600)
	t.Setenv("TEST_ADMIN_TOKEN", testAdminToken)
	t.Setenv("TEST_EMPTY_TOKEN", "")
	f := func(listen string, a AdminConfig, want ...string) {
		t.Helper()
		cfg := testConfig("127.0.0.1:9")
		cfg.Server.AdminListen = listen
		cfg.Server.Admin = a
		cfg.SetDefaults()
		err := cfg.Validate()
		if len(want) == 0 {
			if err != nil {
				t.Fatalf("%s %+v: %v", listen, a, err)
			}
			return
		}
		for _, w := range want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Fatalf("%s %+v: error %v, want %q", listen, a, err, w)
			}
		}
	}
	refused := `can be reached from other hosts, and server.admin has no credential`
	f("127.0.0.1:8081", AdminConfig{})
	f("localhost:8081", AdminConfig{})
	f("[::1]:8081", AdminConfig{})
	f(":8081", AdminConfig{}, `server.admin_listen: ":8081" `+refused)
	f("0.0.0.0:8081", AdminConfig{}, refused)
	f("10.1.2.3:8081", AdminConfig{}, refused)
	f(":8081", AdminConfig{Insecure: true})
	f(":8081", AdminConfig{TokenFile: tokenFile})
	f(":8081", AdminConfig{TokenEnv: "TEST_ADMIN_TOKEN"})
	f(":8081", AdminConfig{TokenFile: "/does/not/exist"}, "server.admin.token_file: cannot read the token")
	f(":8081", AdminConfig{TokenFile: short}, "is 3 bytes, shorter than 16")
	f(":8081", AdminConfig{TokenEnv: "TEST_EMPTY_TOKEN"}, "server.admin.token_env: $TEST_EMPTY_TOKEN is empty")
	f(":8081", AdminConfig{TokenEnv: "TEST_ADMIN_TOKEN", TokenFile: tokenFile}, "set one of token_file, token_env")
	f("127.0.0.1:8081", AdminConfig{ProtectMetrics: true}, "protect_metrics and protect_health need a credential")
	f(":8081", AdminConfig{ClientCAFile: tokenFile}, "client_ca_file: needs tls_cert_file")
	f(":8081", AdminConfig{TLSCertFile: tokenFile}, "tls_cert_file and tls_key_file go together")
	// Every problem at once, not the first.
	f(":8081", AdminConfig{TokenFile: short, TLSCertFile: tokenFile}, "shorter than 16", "go together")
}

// adminGateway starts a gateway whose admin listener is configured by
// mutate, logging to logs.
func adminGateway(t *testing.T, mutate func(*ServerConfig), logs io.Writer) *Server {
	t.Helper()
	cfg := testConfig("127.0.0.1:9")
	mutate(&cfg.Server)
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	srv, err := New(cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(t.Context()) })
	return srv
}

// loopbackURL reaches a listener bound to any address through 127.0.0.1.
func loopbackURL(scheme string, a string) string {
	_, port, _ := net.SplitHostPort(a)
	return scheme + "://127.0.0.1:" + port
}

type adminReply struct {
	status int
	header http.Header
	body   string
	code   string
}

func adminDo(t *testing.T, c *http.Client, method, url string, auth ...string) adminReply {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(`{"tags":["product:1"]}`))
	for _, a := range auth {
		req.Header.Add("Authorization", a)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := adminReply{status: resp.StatusCode, header: resp.Header, body: string(b)}
	if resp.StatusCode == 401 {
		var env struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if err := json.Unmarshal(b, &env); err != nil || env.Error.Code == "" {
			t.Fatalf("%s %s: a 401 not in the error shape: %q", method, url, b)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("401 with Content-Type %q", ct)
		}
		if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer ") {
			t.Fatalf("401 without a Bearer challenge: %v", resp.Header)
		}
		r.code = env.Error.Code
	}
	return r
}

func TestAdminTokenGuard(t *testing.T) {
	t.Setenv("TEST_ADMIN_TOKEN", testAdminToken)
	// 0.0.0.0: a listener other hosts can reach, as in a container.
	srv := adminGateway(t, func(s *ServerConfig) {
		s.AdminListen = "0.0.0.0:0"
		s.Admin.TokenEnv = "TEST_ADMIN_TOKEN"
	}, io.Discard)
	base := loopbackURL("http", srv.AdminAddr())
	c := &http.Client{Timeout: 5 * time.Second}
	f := func(method, path string, wantStatus int, wantCode string, auth ...string) {
		t.Helper()
		r := adminDo(t, c, method, base+path, auth...)
		if r.status != wantStatus || r.code != wantCode {
			t.Fatalf("%s %s %q: %d %q, want %d %q: %.200s", method, path, auth, r.status, r.code, wantStatus, wantCode, r.body)
		}
	}
	bearer := "Bearer " + testAdminToken
	f("GET", "/healthz", 200, "")
	f("GET", "/readyz", 200, "")
	f("GET", "/metrics", 200, "")
	f("GET", "/debug/pprof/", 401, "missing")
	f("GET", "/debug/pprof/heap", 401, "missing")
	f("POST", "/admin/invalidate", 401, "missing")
	f("GET", "/nope", 401, "missing") // unknown paths are private too
	f("POST", "/admin/invalidate", 401, "bad_token", "Bearer "+strings.Repeat("x", len(testAdminToken)))
	f("POST", "/admin/invalidate", 401, "bad_token", "Bearer "+testAdminToken[:20])
	f("POST", "/admin/invalidate", 401, "malformed", "Basic "+testAdminToken)
	f("POST", "/admin/invalidate", 401, "malformed", "Bearer")
	f("POST", "/admin/invalidate", 401, "malformed", bearer, bearer)
	f("GET", "/healthz/../debug/pprof/", 401, "missing")
	f("GET", "/debug/pprof/", 200, "", bearer)
	f("GET", "/debug/pprof/", 200, "", "bearer "+testAdminToken) // the scheme is case-insensitive
	// Through: the handler's own answer (this gateway caches nothing).
	f("POST", "/admin/invalidate", 404, "", bearer)
}

func TestAdminProtectAndPprofOff(t *testing.T) {
	t.Setenv("TEST_ADMIN_TOKEN", testAdminToken)
	off := false
	srv := adminGateway(t, func(s *ServerConfig) {
		s.Admin = AdminConfig{TokenEnv: "TEST_ADMIN_TOKEN", ProtectMetrics: true, ProtectHealth: true, Pprof: &off}
	}, io.Discard)
	base := "http://" + srv.AdminAddr()
	c := &http.Client{Timeout: 5 * time.Second}
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		if r := adminDo(t, c, "GET", base+p); r.status != 401 {
			t.Fatalf("%s protected: %d", p, r.status)
		}
		if r := adminDo(t, c, "GET", base+p, "Bearer "+testAdminToken); r.status != 200 {
			t.Fatalf("%s with the token: %d", p, r.status)
		}
	}
	if r := adminDo(t, c, "GET", base+"/debug/pprof/", "Bearer "+testAdminToken); r.status != 404 {
		t.Fatalf("pprof off: %d", r.status)
	}
}

// TestAdminLoopbackOpen: on loopback without a credential, the admin
// listener stays as open as it was.
func TestAdminLoopbackOpen(t *testing.T) {
	srv := adminGateway(t, func(s *ServerConfig) {}, io.Discard)
	r := adminDo(t, &http.Client{Timeout: 5 * time.Second}, "GET", "http://"+srv.AdminAddr()+"/debug/pprof/")
	if r.status != 200 {
		t.Fatalf("loopback pprof: %d", r.status)
	}
}

func TestAdminInsecureWarns(t *testing.T) {
	var logs syncBuffer
	srv := adminGateway(t, func(s *ServerConfig) {
		s.AdminListen = "0.0.0.0:0"
		s.Admin.Insecure = true
	}, &logs)
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "server.admin.insecure") {
		t.Fatalf("no warning for an insecure admin listener:\n%s", logs.String())
	}
	r := adminDo(t, &http.Client{Timeout: 5 * time.Second}, "GET", loopbackURL("http", srv.AdminAddr())+"/debug/pprof/")
	if r.status != 200 {
		t.Fatalf("insecure pprof: %d", r.status)
	}
}

func TestAdminClientCertificate(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "admin CA")
	other := newTestCA(t, "someone else")
	serverCert := ca.issue(t, "127.0.0.1", false)
	ca.writePEM(t, filepath.Join(dir, "ca.pem"))
	serverCert.write(t, filepath.Join(dir, "srv.pem"), filepath.Join(dir, "srv.key"))
	srv := adminGateway(t, func(s *ServerConfig) {
		s.AdminListen = "0.0.0.0:0"
		s.Admin = AdminConfig{TLSCertFile: filepath.Join(dir, "srv.pem"), TLSKeyFile: filepath.Join(dir, "srv.key"),
			ClientCAFile: filepath.Join(dir, "ca.pem")}
	}, io.Discard)
	base := loopbackURL("https", srv.AdminAddr())
	client := func(cert *testCert) *http.Client {
		cfg := &tls.Config{RootCAs: ca.pool()}
		if cert != nil {
			// Sent whatever CAs the server names: Go's client would
			// otherwise keep a foreign certificate to itself.
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert.tls, nil }
		}
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	}
	if r := adminDo(t, client(nil), "GET", base+"/healthz"); r.status != 200 {
		t.Fatalf("healthz without a certificate: %d", r.status)
	}
	if r := adminDo(t, client(nil), "GET", base+"/debug/pprof/"); r.status != 401 || r.code != "missing" {
		t.Fatalf("pprof without a certificate: %d %q", r.status, r.code)
	}
	if r := adminDo(t, client(ca.issue(t, "operator", true)), "GET", base+"/debug/pprof/"); r.status != 200 {
		t.Fatalf("pprof with a client certificate: %d", r.status)
	}
	if _, err := client(other.issue(t, "intruder", true)).Get(base + "/debug/pprof/"); err == nil {
		t.Fatal("a certificate from another CA was accepted")
	}
}

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

type testCert struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	tls  tls.Certificate
}

func newTestCA(t *testing.T, name string) *testCert {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	return signTestCert(t, tmpl, nil)
}

func (ca *testCert) issue(t *testing.T, name string, client bool) *testCert {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	} else {
		tmpl.IPAddresses = []net.IP{net.ParseIP(name)}
	}
	return signTestCert(t, tmpl, ca)
}

func signTestCert(t *testing.T, tmpl *x509.Certificate, parent *testCert) *testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	issuer, signer := tmpl, key
	if parent != nil {
		issuer, signer = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCert{cert: cert, key: key, tls: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}}
}

func (c *testCert) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.cert)
	return p
}

func (c *testCert) writePEM(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (c *testCert) write(t *testing.T, certPath, keyPath string) {
	t.Helper()
	c.writePEM(t, certPath)
	der, err := x509.MarshalECPrivateKey(c.key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
