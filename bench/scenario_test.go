package bench

import (
	"strings"
	"testing"
	"time"
)

// The shipped suite parses, and every scenario's load config is valid.
func TestDefaultSuiteParses(t *testing.T) {
	s, err := LoadSuite("scenarios/default.yaml")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for i := range s.Scenarios {
		sc := &s.Scenarios[i]
		names[sc.Name] = true
		cfg := sc.Config(s.Defaults, "http://127.0.0.1:1", nil).withDefaults()
		if err := cfg.validate(); err != nil {
			t.Errorf("%s: %v", sc.Name, err)
		}
		if _, err := newKinds(cfg.Requests); err != nil {
			t.Errorf("%s: %v", sc.Name, err)
		}
	}
	for _, want := range []string{"l1-hit", "l2-hit", "l2-hit-cluster", "miss-to-origin", "zipf", "features", "predictions", "invalidation-storm", "invalidation-kafka", "mixed"} {
		if !names[want] {
			t.Errorf("default suite lacks %s", want)
		}
	}
}

// Errors name the field that is wrong.
func TestSuiteErrorsNameTheField(t *testing.T) {
	f := func(yaml, want string) {
		t.Helper()
		_, err := ParseSuite([]byte(yaml))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want one containing %q\n%s", err, want, yaml)
		}
	}
	ok := "  - name: a\n    requests: [{path: /x}]\n"
	f("", "scenarios: none defined")
	f("scenarios:\n  - name: a\n    requets: []\n", `scenarios[0].requets: unknown field (line 3); did you mean "requests"?`)
	f("scenarios:\n  - name: A b\n    requests: [{path: /x}]\n", "scenarios[0].name:")
	f("scenarios:\n"+ok+ok, `scenarios[1].name: "a" is used twice`)
	f("scenarios:\n  - name: a\n", "scenarios[0].requests: none defined")
	f("scenarios:\n  - name: a\n    requests: [{path: x}]\n", "scenarios[0].requests[0].path:")
	f("scenarios:\n  - name: a\n    requests: [{path: /x, dist: pareto}]\n", "scenarios[0].requests[0].dist: unknown key distribution")
	f("scenarios:\n  - name: a\n    requests: [{path: '/x/{key}'}]\n", "scenarios[0].requests[0].keys: the request uses {key}")
	f("scenarios:\n  - name: a\n    requests: [{path: /x, keys: 3}]\n", "scenarios[0].requests[0].keys: 3 keys but")
	f("scenarios:\n  - name: a\n    requests: [{path: /x, method: post}]\n", "scenarios[0].requests[0].method:")
	f("scenarios:\n  - name: a\n    requests: [{path: /x, body: '[{items}]'}]\n", "scenarios[0].requests[0].body: {items} without items")
	f("scenarios:\n  - name: a\n    requests: [{path: /x, body: '[]', items: {count: 2, template: x}}]\n", "scenarios[0].requests[0].items: the body has no {items}")
	f("scenarios:\n  - name: a\n    requests: [{path: /x, zipf_s: 0.5, dist: zipf}]\n", "scenarios[0].requests[0].zipf_s:")
	f("scenarios:\n  - name: a\n    requests: [{path: /x}]\n    ramp: {from: 1, over: 1s}\n", "scenarios[0].ramp: a ramp needs an open-loop rate")
	f("scenarios:\n  - name: a\n    requests: [{path: /x}]\n    rate: 10\n    ramp: {from: 1}\n", "scenarios[0].ramp.over:")
	f("scenarios:\n  - name: a\n    requests: [{path: /x}]\n    duration: soon\n", "scenarios[0].duration")
	f("scenarios:\n  - name: a\n    requests: [{path: /x}]\n    gateway: {l1_bytes: 1000}\n", "scenarios[0].gateway.l1_bytes:")
	f("scenarios:\n  - name: a\n    requests: [{path: /x}]\n    gateway: {redis_cluster: 2}\n", "scenarios[0].gateway.redis_cluster: 2 masters")
	f("scenarios:\n  - name: a\n    requests: [{path: /x}]\n    invalidate: {rate: 10, tag: product, keys: 5}\n", "scenarios[0].invalidate.tag:")
	f("scenarios:\n  - name: a\n    requests: [{path: /x}]\n    invalidate: {rate: 0, tag: 'p:{key}', keys: 5}\n", "scenarios[0].invalidate.rate:")
	f("defaults: {conns: -1}\nscenarios:\n"+ok, "defaults.conns:")
	f("scenarios:\n  - name: a\n    requests: [{path: /x}]\n    invalidate: {rate: 1, tag: 'p:{key}', keys: 5, via: mq}\n", "scenarios[0].invalidate.via:")
	f("scenarios:\n  - name: a\n    requests: [{path: /x}]\n    invalidate: {rate: 1, tag: 'p:{key}', keys: 5, via: kafka}\n", "scenarios[0].invalidate.via: kafka needs gateway.kafka: true")
}

// A scenario becomes a load config: defaults fill what it leaves unset,
// {items} expands, paths join the target's base URL.
func TestScenarioConfig(t *testing.T) {
	s, err := ParseSuite([]byte(`
defaults: {conns: 8, duration: 3s, warmup: 1s}
scenarios:
  - name: f
    conns: 4
    rate: 100
    ramp: {from: 10, over: 2s}
    prefill: true
    requests:
      - {method: POST, path: /v1/features, body: '{"e":[{items}]}', items: {count: 3, template: '"u{key}"'}, keys: 10, key_base: 1}
      - {path: '/p/{key}', keys: 7, weight: 2}
`))
	if err != nil {
		t.Fatal(err)
	}
	sc := &s.Scenarios[0]
	cfg := sc.Config(s.Defaults, "http://h:1/", []Header{{"A", "b"}})
	if cfg.Conns != 4 || cfg.Duration != 3*time.Second || cfg.Warmup != time.Second || cfg.Rate != 100 ||
		cfg.RampFrom != 10 || cfg.RampOver != 2*time.Second || len(cfg.Headers) != 1 {
		t.Errorf("config %+v", cfg)
	}
	r := cfg.Requests[0]
	if r.URL != "http://h:1/v1/features" || r.Body != `{"e":["u{key}","u{key}","u{key}"]}` || r.KeyBase != 1 || r.Method != "POST" {
		t.Errorf("request %+v", r)
	}
	pre := sc.prefillConfigs("http://h:1", nil, 5)
	if len(pre) != 1 || pre[0].Count != 7 || pre[0].Requests[0].URL != "http://h:1/p/{key}" || pre[0].Requests[0].Dist != DistSeq {
		t.Errorf("prefill %+v: want one seq run over the GET's 7 keys", pre)
	}
}
