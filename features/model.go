package features

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"sync/atomic"
	"time"

	"github.com/tiercel/tiercel/internal/breaker"
	"github.com/tiercel/tiercel/internal/defaults"
)

type backendKind uint8

const (
	backendOIP backendKind = iota + 1
	backendBuiltin
)

// model is a compiled ModelConfig.
type model struct {
	name, version string
	inputs        []modelInput
	width         int // length of the flattened input vector
	views         []*view
	def           *float64
	ttl, budget   time.Duration

	backend    backendKind
	inferURL   string // oip
	oipName    string
	timeout    time.Duration
	breakerCfg breaker.Config // oip
	br         *guard         // oip; set by New

	// fallbacks counts rows not answered by the model or the cache, by
	// what answered them instead and why.
	fallbacks [numServed][numReasons]atomic.Uint64
	logistic  bool // builtin
	weights   Weights
	keyPrefix string // {prefix}pred:{name}@{version}:
}

type modelInput struct {
	ref     string
	view    *view
	feature int
	typ     Type
}

func (r *registry) compileModel(p *problems, path string, mc ModelConfig) {
	checkName(p, path+".name", mc.Name)
	if _, dup := r.models[mc.Name]; dup {
		p.add("%s.name: duplicate model %q", path, mc.Name)
	}
	if mc.Version == "" {
		p.add("%s.version: must be set (it starts the prediction key space)", path)
	}
	m := &model{name: mc.Name, version: mc.Version, def: mc.Default, ttl: mc.TTL, budget: mc.Budget,
		keyPrefix: r.cfg.KeyPrefix + "pred:" + mc.Name + "@" + mc.Version + ":"}
	defaults.Set(&m.ttl, defaultModelTTL)
	if mc.Budget < 0 {
		p.add("%s.budget: must not be negative", path)
	}
	if len(mc.Inputs) == 0 {
		p.add("%s.inputs: must not be empty", path)
	}
	seen := map[*view]bool{}
	for i, ref := range mc.Inputs {
		v, fi, err := r.resolve(ref)
		if err != nil {
			p.add("%s.inputs[%d]: %v", path, i, err)
			continue
		}
		t := v.features[fi].typ
		if !t.Numeric() {
			p.add("%s.inputs[%d]: %s has type %s, not a model input (want int64, float64, bool or float32_vector[N])", path, i, ref, t)
		}
		m.inputs = append(m.inputs, modelInput{ref: ref, view: v, feature: fi, typ: t})
		m.width += t.Width()
		if !seen[v] {
			seen[v] = true
			m.views = append(m.views, v)
		}
	}
	if len(m.views) > 1 && !sameKeys(m.views) {
		p.add("%s.inputs: every input view must have the same join keys (a prediction is per entity)", path)
	}
	r.compileBackend(p, path+".backend", mc, m)
	r.models[mc.Name] = m
}

func sameKeys(vs []*view) bool {
	for _, v := range vs[1:] {
		if len(v.keys) != len(vs[0].keys) {
			return false
		}
		for i, k := range v.keys {
			if k != vs[0].keys[i] {
				return false
			}
		}
	}
	return true
}

func (r *registry) compileBackend(p *problems, path string, mc ModelConfig, m *model) {
	b := mc.Backend
	switch b.Type {
	case "oip":
		m.backend = backendOIP
		m.oipName = b.ModelName
		defaults.Set(&m.oipName, mc.Name)
		m.timeout = b.Timeout
		defaults.Set(&m.timeout, defaultHTTPTimeout)
		m.breakerCfg = b.Breaker.Or(r.cfg.Breaker)
		checkBreaker(p, path+".breaker", b.Breaker)
		u, err := url.Parse(b.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.add("%s.url: want the http(s) base URL of an OIP server, got %q", path, b.URL)
			return
		}
		m.inferURL = u.JoinPath("v2", "models", m.oipName, "versions", mc.Version, "infer").String()
	case "builtin":
		m.backend = backendBuiltin
		switch b.Kind {
		case "linear":
		case "logistic":
			m.logistic = true
		default:
			p.add("%s.kind: unknown builtin model %q (want linear or logistic)", path, b.Kind)
		}
		switch {
		case b.Weights != nil && b.WeightsFile != "":
			p.add("%s: set weights or weights_file, not both", path)
		case b.Weights != nil:
			m.weights = *b.Weights
		case b.WeightsFile != "":
			data, err := os.ReadFile(b.WeightsFile)
			if err == nil {
				err = json.Unmarshal(data, &m.weights)
			}
			if err != nil {
				p.add("%s.weights_file: cannot load weights: %v", path, err)
				return
			}
		default:
			p.add("%s: builtin model needs weights or weights_file", path)
			return
		}
		if len(m.weights.Weights) != m.width {
			p.add("%s: %d weights for %d inputs", path, len(m.weights.Weights), m.width)
		}
	default:
		p.add("%s.type: unknown backend %q (want oip or builtin)", path, b.Type)
	}
}

// String is for logs and errors.
func (m *model) String() string { return fmt.Sprintf("%s@%s", m.name, m.version) }
