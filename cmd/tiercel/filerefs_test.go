package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestFileReferencesRefusedAlike: every kind of file a config names (auth
// keys, the admin credential and certificates, model weights, Redis TLS)
// is read by validate as serve reads it: missing or malformed, it is
// refused by both with the same message (seen: a pem_file that did not
// exist passed validate and only failed when serve built the verifier).
// Upstreams name no files: https targets use the system's roots.
func TestFileReferencesRefusedAlike(t *testing.T) {
	dir := t.TempDir()
	junk := writeFile(t, "junk", "not a key, not JSON\n")
	missing := filepath.Join(dir, "missing")
	f := func(body, want string) {
		t.Helper()
		body = strings.NewReplacer("$JUNK", junk, "$MISSING", missing).Replace(body)
		vErr, sErr := refusedAlike(t, writeFile(t, "refs.yaml", body), want)
		// The same line, not merely the same words.
		if vLine, sLine := lineWith(vErr, want), lineWith(sErr, want); !strings.HasSuffix(sLine, vLine) {
			t.Fatalf("validate said %q, serve %q", vLine, sLine)
		}
	}
	issuer := func(key string) string {
		return "auth:\n  issuers:\n    - {issuer: https://iss.test, algorithms: [RS256], keys: [" + key + "]}\n"
	}
	f(issuer("{pem_file: $MISSING}"), "auth.issuers[0].keys[0]: cannot load key: open "+missing)
	f(issuer("{pem_file: $JUNK}"), "auth.issuers[0].keys[0]: cannot load key: cannot parse "+junk)
	f(issuer("{jwk_file: $MISSING}"), "auth.issuers[0].keys[0]: cannot load key: open "+missing)
	f(issuer("{jwk_file: $JUNK}"), "auth.issuers[0].keys[0]: cannot load key: cannot parse "+junk)

	f("server: {admin: {token_file: $MISSING}}\n", "server.admin.token_file")
	f("server: {admin: {token_file: $JUNK, tls_cert_file: $MISSING, tls_key_file: $MISSING}}\n", "server.admin.tls_cert_file")
	f("server: {admin: {token_file: $JUNK, tls_cert_file: $JUNK, tls_key_file: $JUNK}}\n", "server.admin.tls_cert_file")

	model := func(weights string) string {
		return `features:
  entities: [{name: user, join_keys: [{name: user_id, type: string}]}]
  views:
    - {name: stats, entities: [user], source: {type: memory}, features: [{name: clicks, type: int64}]}
  models:
    - {name: m, version: "1", inputs: [stats:clicks], backend: {type: builtin, kind: linear, weights_file: ` + weights + `}}
`
	}
	f(model("$MISSING"), "models[0].backend.weights_file: cannot load weights: open "+missing)
	f(model("$JUNK"), "models[0].backend.weights_file: cannot load weights: invalid character")

	f("redis: {url: \"redis://10.0.0.1:6379\", tls: {enabled: true, ca_file: $MISSING}}\n", "redis.tls: ")
	f("redis: {url: \"redis://10.0.0.1:6379\", tls: {enabled: true, ca_file: $JUNK}}\n", "redis.tls: ")
}

// lineWith is the line of out that contains s.
func lineWith(out, s string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}
