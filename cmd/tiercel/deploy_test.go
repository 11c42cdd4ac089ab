package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tiercel/tiercel/internal/redisconn"
)

// TestDeployFiles holds the deployment files to what the binary reads and
// to the admin listener's rules: every TIERCEL_* variable they set is one
// the binary or the config they mount reads (seen: the manifest set
// TIERCEL_KAFKA_BOOTSTRAP, compose TIERCEL_KAFKA_BROKERS); compose
// publishes admin ports on the host's loopback only; Kubernetes takes the
// admin token from a Secret; the pod's grace period outlasts the drain.
func TestDeployFiles(t *testing.T) {
	compose := readYAML(t, "../../deploy/compose.yaml")
	k8s := readYAML(t, "../../deploy/k8s/tiercel.yaml")
	cluster, err := os.ReadFile("../../deploy/examples/cluster.yaml")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("TIERCEL_JWT_SECRET", strings.Repeat("y", 40))
	t.Setenv("TIERCEL_ADMIN_TOKEN", strings.Repeat("z", 40))
	cfg, err := loadConfig("../../deploy/examples/cluster.yaml", "", overrides{})
	if err != nil {
		t.Fatal(err)
	}
	read := map[string]bool{}
	for _, v := range redisconn.Env {
		read[v] = true
	}
	src, _ := filepath.Glob("*.go")
	names := regexp.MustCompile(`TIERCEL_[A-Z0-9_]+`)
	for _, f := range src {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, _ := os.ReadFile(f)
		for _, n := range names.FindAllString(string(b), -1) {
			read[n] = true
		}
	}
	for _, n := range names.FindAllString(string(cluster), -1) {
		read[n] = true
	}
	check := func(where string, envs []string) {
		t.Helper()
		for _, e := range envs {
			if strings.HasPrefix(e, "TIERCEL_") && !read[e] {
				t.Errorf("%s sets %s, which neither tiercel nor cluster.yaml reads", where, e)
			}
		}
	}

	services := compose[0]["services"].(map[string]any)
	for _, name := range []string{"tiercel-1", "tiercel-2"} {
		svc := services[name].(map[string]any)
		var envs []string
		for k := range svc["environment"].(map[string]any) {
			envs = append(envs, k)
		}
		check("compose "+name, envs)
		if !slices.Contains(envs, "TIERCEL_ADMIN_TOKEN") || !slices.Contains(envs, "TIERCEL_KAFKA_BROKERS") {
			t.Errorf("compose %s: no TIERCEL_ADMIN_TOKEN or TIERCEL_KAFKA_BROKERS: %v", name, envs)
		}
		for _, p := range svc["ports"].([]any) {
			if p := p.(string); strings.HasSuffix(p, ":8081") && !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("compose %s publishes the admin port beyond the host: %q", name, p)
			}
		}
	}

	for _, doc := range k8s {
		if doc["kind"] != "Deployment" {
			continue
		}
		c := dig(doc, "spec", "template", "spec", "containers").([]any)[0].(map[string]any)
		var envs []string
		secret := map[string]bool{}
		for _, e := range c["env"].([]any) {
			e := e.(map[string]any)
			envs = append(envs, e["name"].(string))
			secret[e["name"].(string)] = dig(e, "valueFrom", "secretKeyRef") != nil
		}
		check("k8s", envs)
		if !secret["TIERCEL_ADMIN_TOKEN"] || !slices.Contains(envs, "TIERCEL_KAFKA_BROKERS") {
			t.Errorf("k8s: TIERCEL_ADMIN_TOKEN from a Secret and TIERCEL_KAFKA_BROKERS wanted: %v", envs)
		}
		// From SIGTERM to exit takes up to drain_delay + shutdown_timeout
		// (and the components' close); a grace period no longer than that
		// gets the pod killed with requests in flight.
		grace, _ := dig(doc, "spec", "template", "spec", "terminationGracePeriodSeconds").(int)
		if need := max(cfg.Server.DrainDelay, 0) + cfg.Server.ShutdownTimeout; time.Duration(grace)*time.Second <= need {
			t.Errorf("k8s: terminationGracePeriodSeconds %d, want more than cluster.yaml's drain_delay + shutdown_timeout (%s)", grace, need)
		}
	}
	for _, f := range []string{"../../deploy/compose.yaml", "../../deploy/k8s/tiercel.yaml", "../../deploy/examples/cluster.yaml"} {
		if b, _ := os.ReadFile(f); strings.Contains(string(b), "KAFKA_BOOTSTRAP") {
			t.Errorf("%s still names TIERCEL_KAFKA_BOOTSTRAP", f)
		}
	}
}

func readYAML(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var docs []map[string]any
	dec := yaml.NewDecoder(f)
	for {
		var d map[string]any
		if err := dec.Decode(&d); err != nil {
			if errors.Is(err, io.EOF) {
				return docs
			}
			t.Fatalf("%s: %v", path, err)
		}
		docs = append(docs, d)
	}
}

func dig(m map[string]any, keys ...string) any {
	var v any = m
	for _, k := range keys {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}
