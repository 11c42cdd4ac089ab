package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tiercel/tiercel/gateway"
)

// The pages whose config keys and YAML examples TestDocs holds to the code.
var docPages = []string{"../../README.md", "../../SECURITY.md", "../../deploy/README.md", "../../docs/*.md"}

// TestDocs keeps the manual honest about configuration:
//
//   - every config key the pages name exists in the config types: dotted
//     keys in `code` spans (`server.drain_delay`, `cache.key.private: true`;
//     a key may be written relative to its section, as `key.claims`), the
//     first column of tables headed "| key |", and the keys of YAML blocks,
//     commented-out lines included;
//   - every ```yaml block passes `tiercel validate`.
//
// The conventions for YAML blocks, written as HTML comments on the line
// before the block (invisible once rendered):
//
//   - a block that starts at a root key (server, routes, ...) is validated
//     whole;
//   - `<!-- config-under: PATH -->`: the block is a fragment under PATH
//     (dotted keys, e.g. `features` or `routes`) and is indented under it;
//   - `<!-- config-with: YAML -->`: YAML (a root key, one line; one
//     comment per key) is added to the block, for what it refers to but
//     does not show (an upstream, an issuer);
//   - `<!-- not-config -->`: the block is not a Tiercel config (Kubernetes,
//     a scenarios file) and is skipped.
//
// ${VAR} in a block is set to a 40-byte placeholder (long enough for any
// secret), and /etc/tiercel/NAME.pem names a self-signed P-256 CA
// certificate the test writes (a CA for TLS, a public key for JWTs).
func TestDocs(t *testing.T) {
	paths := configPaths(reflect.TypeOf(gateway.Config{}), nil)
	names := map[string]bool{}
	for _, p := range paths {
		for _, s := range p {
			names[s] = true
		}
	}
	pages := docFiles(t)
	blocks := 0
	for _, page := range pages {
		raw, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		doc := string(raw)
		name := strings.TrimPrefix(page, "../../")
		for _, k := range docKeys(doc) {
			if k.suggest != "" {
				// A quoted unknown-field error: the typo must be no key,
				// the suggestion one.
				if isConfigPath(paths, k.key) || !isConfigPath(paths, k.suggest) {
					t.Errorf("%s quotes an unknown-field error for `%s` suggesting `%s`, which validate would not say", name, k.key, k.suggest)
				}
				continue
			}
			first, _, _ := strings.Cut(unindexed(k.key), ".")
			if !names[first] {
				continue // prose or a file name (`tiercel.invalidations`), not a key
			}
			if !isConfigPath(paths, k.key) {
				t.Errorf("%s names `%s`, which is no config key", name, k.key)
			}
		}
		for _, k := range tableKeys(doc) {
			if !isConfigPath(paths, k) {
				t.Errorf("%s's key table names `%s`, which is no config key", name, k)
			}
		}
		for _, b := range yamlBlocks(doc) {
			if b.skip {
				continue
			}
			blocks++
			for _, k := range commentedKeys(b.body) {
				if !names[k] {
					t.Errorf("%s:%d: a commented-out line names %q, which is no config key", name, b.line, k)
				}
			}
			if err := validateBlock(t, b); err != "" {
				t.Errorf("%s:%d: the YAML block does not pass tiercel validate:\n%s\n%s", name, b.line, err, b.src())
			}
		}
	}
	if blocks < 8 {
		t.Fatalf("only %d YAML blocks found in %d pages: is the block pattern still right?", blocks, len(pages))
	}
}

func docFiles(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, g := range docPages {
		m, err := filepath.Glob(g)
		if err != nil || len(m) == 0 {
			t.Fatalf("%s: no pages (%v)", g, err)
		}
		out = append(out, m...)
	}
	return out
}

// configPaths lists every yaml path of a config type as its keys, the way
// yamlconf decodes it: a list or a map is transparent (a map's key reads
// "*"), an ",inline" struct is flattened, a field without a tag takes its
// lowercased name. A duration, a scalar, a list of scalars and an
// interface are leaves.
func configPaths(t reflect.Type, prefix []string) [][]string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		return configPaths(t.Elem(), prefix)
	case reflect.Map:
		return configPaths(t.Elem(), append(slices.Clip(prefix), "*"))
	case reflect.Struct:
		if t == reflect.TypeOf(time.Duration(0)) || t == reflect.TypeOf(time.Time{}) {
			break
		}
		var out [][]string
		if len(prefix) > 0 {
			out = append(out, prefix)
		}
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("yaml")
			if !f.IsExported() || tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if strings.Contains(opts, "inline") {
				out = append(out, configPaths(f.Type, prefix)...)
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			out = append(out, configPaths(f.Type, append(slices.Clip(prefix), name))...)
		}
		return out
	}
	if len(prefix) == 0 {
		return nil
	}
	return [][]string{prefix}
}

// isConfigPath: k (dotted, list indexes allowed: routes[2].auth) is a run
// of keys somewhere in one config path, so a key written relative to its
// section (key.claims, under a route's cache) counts.
func isConfigPath(paths [][]string, k string) bool {
	segs := strings.Split(unindexed(k), ".")
	for _, p := range paths {
		for i := 0; i+len(segs) <= len(p); i++ {
			if slices.EqualFunc(p[i:i+len(segs)], segs, func(a, b string) bool { return a == b || a == "*" }) {
				return true
			}
		}
	}
	return false
}

// unindexed drops list indexes: routes[2].auth → routes.auth.
func unindexed(k string) string {
	return listIndex.ReplaceAllString(k, "")
}

var (
	listIndex    = regexp.MustCompile(`\[[^\]]*\]`)
	unknownField = regexp.MustCompile(`^(\S+): unknown field \(line \d+\); did you mean "([a-z0-9_]+)"\?$`)
	codeSpan     = regexp.MustCompile("`([^`\n]+)`")
	dottedKey    = regexp.MustCompile(`^[a-z][a-z0-9_]*(\[[^\]]*\])?(\.[a-z][a-z0-9_]*(\[[^\]]*\])?)+$`)
	fileExt      = regexp.MustCompile(`\.(go|md|yaml|yml|json|pem|sh|svg|txt|html|com|dev|org|io)$`)
)

// docKey is a dotted key named in prose; suggest is set when the span
// quotes validate's unknown-field error for a misspelt key.
type docKey struct{ key, suggest string }

// docKeys are the dotted keys in a page's prose `code` spans, written
// alone or as `key: value`. Fenced blocks are left to yamlBlocks.
func docKeys(doc string) []docKey {
	var out []docKey
	for _, m := range codeSpan.FindAllStringSubmatch(stripFences(doc), -1) {
		if e := unknownField.FindStringSubmatch(m[1]); e != nil {
			i := strings.LastIndex(e[1], ".")
			out = append(out, docKey{e[1], e[1][:i+1] + e[2]})
			continue
		}
		k, _, _ := strings.Cut(m[1], ": ")
		if dottedKey.MatchString(k) && !fileExt.MatchString(k) {
			out = append(out, docKey{key: k})
		}
	}
	return out
}

func stripFences(doc string) string {
	return regexp.MustCompile("(?ms)^```.*?^```").ReplaceAllString(doc, "")
}

// tableKeys are the keys in the first column of the tables whose first
// header is "key" (docs/redis.md's).
func tableKeys(doc string) []string {
	var out []string
	for _, table := range regexp.MustCompile(`(?m)^\| key \|.*\n(?:\|.*\n?)*`).FindAllString(doc, -1) {
		for _, row := range strings.Split(table, "\n")[2:] {
			cells := strings.Split(row, "|")
			if len(cells) < 2 {
				continue
			}
			for _, k := range codeSpan.FindAllStringSubmatch(cells[1], -1) {
				out = append(out, k[1])
			}
		}
	}
	return out
}

type yamlBlock struct {
	line        int    // of the opening fence
	body        string // as written
	under, with string // config-under and config-with
	skip        bool
}

// src is the config the block stands for: the body under its parent,
// plus what config-with adds.
func (b yamlBlock) src() string {
	body := b.body
	if b.under != "" {
		keys := strings.Split(b.under, ".")
		var sb strings.Builder
		for i, k := range keys {
			fmt.Fprintf(&sb, "%s%s:\n", strings.Repeat("  ", i), k)
		}
		pad := strings.Repeat("  ", len(keys))
		for _, l := range strings.SplitAfter(body, "\n") {
			if strings.TrimSpace(l) != "" {
				l = pad + l
			}
			sb.WriteString(l)
		}
		body = sb.String()
	}
	if b.with != "" {
		body += "\n" + b.with
	}
	return body
}

var directive = regexp.MustCompile(`^<!-- (not-config|config-under: (.+)|config-with: (.+)) -->$`)

func yamlBlocks(doc string) []yamlBlock {
	var out []yamlBlock
	lines := strings.Split(doc, "\n")
	for i := 0; i < len(lines); i++ {
		if lines[i] != "```yaml" {
			continue
		}
		b := yamlBlock{line: i + 1}
		for j := i - 1; j >= 0 && strings.HasPrefix(lines[j], "<!-- "); j-- {
			m := directive.FindStringSubmatch(lines[j])
			switch {
			case m == nil:
			case m[1] == "not-config":
				b.skip = true
			case m[2] != "":
				b.under = m[2]
			default:
				b.with += m[3] + "\n"
			}
		}
		var body []string
		for i++; i < len(lines) && lines[i] != "```"; i++ {
			body = append(body, lines[i])
		}
		b.body = strings.Join(body, "\n") + "\n"
		out = append(out, b)
	}
	return out
}

// commentedKeys are the keys of commented-out config lines (`# url: ...`,
// `# - {kid: h1, ...}`): the first word of a whole-line comment, when a
// colon follows it.
func commentedKeys(body string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`(?m)^\s*#\s+(?:- )?\{?([a-z][a-z0-9_]*):\s`).FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

// validateBlock runs `tiercel validate` on a block and returns its
// complaint, or "" when it passes.
func validateBlock(t *testing.T, b yamlBlock) string {
	t.Helper()
	src := b.src()
	for _, f := range regexp.MustCompile(`/etc/tiercel/[A-Za-z0-9_.-]+\.pem`).FindAllString(src, -1) {
		src = strings.ReplaceAll(src, f, writeCert(t))
	}
	for _, m := range regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`).FindAllStringSubmatch(src, -1) {
		t.Setenv(m[1], strings.Repeat("x", 40))
	}
	code, _, errOut := runCLI("validate", "-config", writeFile(t, "block.yaml", src))
	if code != 0 {
		return errOut
	}
	return ""
}

// writeCert writes a self-signed P-256 CA certificate and returns its path.
func writeCert(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "docs test CA"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, "cert.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
}

// TestDocLinks: every relative link in the manual names a file that
// exists and, for a page, a heading it has (GitHub's anchors), so moving
// a section cannot leave a link behind.
func TestDocLinks(t *testing.T) {
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	for _, page := range docFiles(t) {
		raw, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(page, "../../")
		for _, m := range link.FindAllStringSubmatch(stripFences(string(raw)), -1) {
			target, anchor, _ := strings.Cut(m[1], "#")
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			file := page
			if target != "" {
				file = filepath.Join(filepath.Dir(page), target)
			}
			body, err := os.ReadFile(file)
			if err != nil && !isDir(file) {
				t.Errorf("%s links to %s, which does not exist", name, m[1])
				continue
			}
			if anchor != "" && strings.HasSuffix(file, ".md") && !slices.Contains(anchors(string(body)), anchor) {
				t.Errorf("%s links to %s, which has no heading #%s", name, m[1], anchor)
			}
		}
	}
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// anchors are a page's headings as GitHub links them: lower case, spaces
// to hyphens, punctuation dropped.
func anchors(doc string) []string {
	var out []string
	drop := regexp.MustCompile(`[^\p{L}\p{N} _-]`)
	for _, m := range regexp.MustCompile(`(?m)^#+ (.+)$`).FindAllStringSubmatch(stripFences(doc), -1) {
		out = append(out, strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(m[1]), ""), " ", "-"))
	}
	return out
}

// TestDocRefs: the code the manual points at exists: every `dir/file.go`
// it names, every function it names after one (`gateway/cached.go`
// (`newFill`)), and every test, fuzz target and benchmark it names.
func TestDocRefs(t *testing.T) {
	fileRef := regexp.MustCompile("`([a-z0-9_/]+\\.go)`(?: \\(`([A-Za-z_]+)`\\))?")
	testRef := regexp.MustCompile(`\b((?:Test|Fuzz|Benchmark)[A-Z][A-Za-z0-9_]*)\b([*]?)`)
	tests := map[string]bool{}
	decl := regexp.MustCompile(`(?m)^func ((?:Test|Fuzz|Benchmark)[A-Za-z0-9_]*)\(`)
	err := filepath.WalkDir("../..", func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, "_test.go") {
			return err
		}
		b, err := os.ReadFile(p)
		for _, m := range decl.FindAllStringSubmatch(string(b), -1) {
			tests[m[1]] = true
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, page := range docFiles(t) {
		raw, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(page, "../../")
		for _, m := range fileRef.FindAllStringSubmatch(string(raw), -1) {
			src, err := os.ReadFile(filepath.Join("../..", m[1]))
			if err != nil {
				t.Errorf("%s names %s, which does not exist", name, m[1])
				continue
			}
			if m[2] != "" && !regexp.MustCompile(`(?m)^func (\([^)]*\) )?`+m[2]+`\b`).Match(src) {
				t.Errorf("%s names %s (%s), which declares no such function", name, m[1], m[2])
			}
		}
		for _, m := range testRef.FindAllStringSubmatch(string(raw), -1) {
			if m[2] == "" && !tests[m[1]] {
				t.Errorf("%s names %s, which no test file declares", name, m[1])
			}
		}
	}
}
