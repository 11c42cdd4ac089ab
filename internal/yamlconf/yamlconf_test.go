package yamlconf

import (
	"strings"
	"testing"
	"time"
)

type testCache struct {
	TTL  time.Duration  `yaml:"ttl"`
	Keep *time.Duration `yaml:"keep"`
	Tags []string       `yaml:"tags"`
}

type testRoute struct {
	Path  string     `yaml:"path"`
	Cache *testCache `yaml:"cache"`
}

type testConfig struct {
	Listen  string               `yaml:"listen"`
	Workers int                  `yaml:"workers"`
	Secret  string               `yaml:"secret"`
	Routes  []testRoute          `yaml:"routes"`
	Pools   map[string]testCache `yaml:"pools"`
	Plain   bool                 // no tag: yaml name "plain"
}

func env(vars map[string]string) Lookup {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

func TestDecode(t *testing.T) {
	src := `
listen: ":${PORT:-8080}"
workers: 4
secret: "${SECRET}"
plain: true
routes:
  - path: /a
    cache: {ttl: 30s, tags: ["p:{id}"]}
pools:
  main: {ttl: 1m}
`
	var c testConfig
	if err := Decode([]byte(src), &c, env(map[string]string{"SECRET": "s3: cr{et} # not yaml"})); err != nil {
		t.Fatal(err)
	}
	if c.Listen != ":8080" || c.Workers != 4 || c.Secret != "s3: cr{et} # not yaml" || !c.Plain {
		t.Fatalf("got %+v", c)
	}
	if c.Routes[0].Cache.TTL != 30*time.Second || c.Pools["main"].TTL != time.Minute {
		t.Fatalf("durations: %+v %+v", c.Routes[0].Cache, c.Pools)
	}
}

func TestDecodeEmpty(t *testing.T) {
	var c testConfig
	if err := Decode(nil, &c, env(nil)); err != nil {
		t.Fatal(err)
	}
}

func TestDecodeErrors(t *testing.T) {
	f := func(src, want string) {
		t.Helper()
		var c testConfig
		err := Decode([]byte(src), &c, env(map[string]string{"EMPTY": ""}))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("Decode(%q): err %v, want it to contain %q", src, err, want)
		}
	}
	f("workers: 1\nlisen: y\n", `lisen: unknown field (line 2); did you mean "listen"?`)
	f("listen_address: y\n", `listen_address: unknown field (line 1)`)
	f("routes:\n  - path: /a\n    cache: {tll: 1s}\n", `routes[0].cache.tll: unknown field`)
	f("pools:\n  main: {ttl: 1m, bogus: 1}\n", `pools.main.bogus: unknown field`)
	f("secret: ${NOPE}\n", `secret: environment variable NOPE is not set`)
	f("secret: ${EMPTY}\n", `secret: environment variable EMPTY is not set`)
	f("workers: many\n", `workers: cannot unmarshal !!str`)
	f("routes:\n  - path: /a\n    cache: {ttl: soon}\n", `routes[0].cache.ttl:`)
	f("routes: {path: /a}\n", `routes: expected a list, got a mapping`)
	f("listen: a\nlisten: b\n", `listen: set twice`)
	f("listen: [unclosed\n", `cannot parse YAML`)
	f("a: &x 1\nlisten: *x\n", `unknown field`)
	f("routes:\n  - path: /a\n    cache: {ttl: 30}\n", `routes[0].cache.ttl: 30 is not a duration: give it a unit (30s, 30ms, ...)`)
	f("routes:\n  - path: /a\n    cache: {keep: 5}\n", `routes[0].cache.keep: 5 is not a duration`)
}

// A duration written 0 (an int to yaml) is the zero duration, in a field
// or behind a pointer (where it differs from an absent one).
func TestZeroDuration(t *testing.T) {
	var c testConfig
	if err := Decode([]byte("routes:\n  - path: /a\n    cache: {ttl: 0, keep: 0}\n  - path: /b\n    cache: {ttl: 1m}\n"), &c, env(nil)); err != nil {
		t.Fatal(err)
	}
	if a, b := c.Routes[0].Cache, c.Routes[1].Cache; a.TTL != 0 || a.Keep == nil || *a.Keep != 0 || b.Keep != nil {
		t.Fatalf("got %+v %+v", a, b)
	}
}

func TestExpandedPlainScalarsKeepTheirType(t *testing.T) {
	var c testConfig
	if err := Decode([]byte("workers: ${N:-7}\nlisten: \"${N:-7}\"\n"), &c, env(nil)); err != nil {
		t.Fatal(err)
	}
	if c.Workers != 7 || c.Listen != "7" {
		t.Fatalf("got %+v", c)
	}
}

func TestDollarEscape(t *testing.T) {
	var c testConfig
	if err := Decode([]byte("secret: \"a$${B}c\"\n"), &c, env(nil)); err != nil {
		t.Fatal(err)
	}
	if c.Secret != "a${B}c" {
		t.Fatalf("got %q", c.Secret)
	}
}
