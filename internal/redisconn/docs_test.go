package redisconn

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tiercel/tiercel/internal/yamlconf"
)

// TestDocs holds docs/redis.md to the code: every YAML example parses
// strictly and validates, every key of its table is a config key (and
// every config key is in the table), and its environment variables are
// the ones ApplyEnv reads.
func TestDocs(t *testing.T) {
	raw, err := os.ReadFile("../../docs/redis.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	// The CA file the example names, made for real.
	ca := writeCA(t)
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(doc, -1)
	if len(blocks) < 4 {
		t.Fatalf("%d yaml examples", len(blocks))
	}
	env := func(k string) (string, bool) { return "from-" + k, true }
	for _, b := range blocks {
		src := strings.ReplaceAll(b[1], "/etc/tiercel/redis-ca.pem", ca)
		var file struct {
			Redis Config `yaml:"redis"`
		}
		if err := yamlconf.Decode([]byte(src), &file, env); err != nil {
			t.Fatalf("example does not parse: %v\n%s", err, b[1])
		}
		file.Redis.SetDefaults()
		if err := file.Redis.Validate(); err != nil {
			t.Fatalf("example does not validate: %v\n%s", err, b[1])
		}
	}

	_, table, ok := strings.Cut(doc, "| key | default | meaning |")
	if !ok {
		t.Fatal("docs/redis.md has no config table")
	}
	table, _, _ = strings.Cut(table, "\n\n")
	inTable := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| (`.*?) \\|").FindAllStringSubmatch(table, -1) {
		for _, k := range regexp.MustCompile("`([a-z_.]+)`").FindAllStringSubmatch(m[1], -1) {
			inTable[k[1]] = true
		}
	}
	for _, k := range yamlKeys(reflect.TypeOf(Config{}), "") {
		if !inTable[k] {
			t.Errorf("config key %s is not in docs/redis.md's table", k)
		}
		delete(inTable, k)
	}
	for k := range inTable {
		t.Errorf("docs/redis.md's table names %s, which is no config key", k)
	}
	for _, e := range Env {
		if !strings.Contains(doc, "`"+e) {
			t.Errorf("docs/redis.md does not name %s", e)
		}
	}
	for _, e := range regexp.MustCompile("TIERCEL_REDIS_[A-Z_]+").FindAllString(doc, -1) {
		if !slices.Contains(Env, e) {
			t.Errorf("docs/redis.md names %s, which ApplyEnv does not read", e)
		}
	}
}

func yamlKeys(t reflect.Type, prefix string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Duration(0)) {
			out = append(out, yamlKeys(f.Type, prefix+name+".")...)
			continue
		}
		out = append(out, prefix+name)
	}
	return out
}

// writeCA writes a self-signed CA certificate and returns its path.
func writeCA(t *testing.T) string {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
