package redisconn

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestDocs holds docs/redis.md's config table to the code: every key of
// its table is a config key and every config key is in the table, and its
// environment variables are the ones ApplyEnv reads. (That its YAML
// examples pass `tiercel validate`, and that every key the manual names
// exists, is cmd/tiercel's TestDocs.)
func TestDocs(t *testing.T) {
	raw, err := os.ReadFile("../../docs/redis.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
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
