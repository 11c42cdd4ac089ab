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

	backend  backendKind
	inferURL string // oip
	// tensors split the input vector into the OIP input tensors, sent to
	// an oip backend and taken by the gateway's own infer endpoint.
	tensors []tensor
	output  string // the output tensor to read ("": the first)
	params  []byte // oip: the request's rendered "parameters" object, or nil
	sendID  bool   // oip: send an "id" and check its echo
	// errs counts failed model calls by class (modelErrClass).
	errs       [numModelErrs]atomic.Uint64
	ids        atomic.Uint64 // oip: the last request id sent
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
	m.tensors = compileTensors(p, path+".backend.input_tensors", mc.Backend.InputTensors, m.width)
	m.output = mc.Backend.Output
	if m.backend == backendBuiltin && (mc.Backend.SendVersion != nil || mc.Backend.Parameters != nil || mc.Backend.RequestID) {
		p.add("%s.backend: send_version, parameters and request_id are for oip backends", path)
	}
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
		if b.SendVersion == nil || *b.SendVersion {
			m.inferURL = u.JoinPath("v2", "models", m.oipName, "versions", mc.Version, "infer").String()
		} else {
			m.inferURL = u.JoinPath("v2", "models", m.oipName, "infer").String()
		}
		m.sendID = b.RequestID
		m.params = compileParams(p, path+".parameters", b.Parameters)
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

// tensor is one OIP input tensor: the next width values of the vector.
type tensor struct {
	name  string
	dt    dtype
	width int
}

// compileTensors checks input_tensors against the vector's width; none
// is one FP64 tensor "input-0", what Tiercel always sent.
func compileTensors(p *problems, path string, tcs []TensorConfig, width int) []tensor {
	if len(tcs) == 0 {
		return []tensor{{name: "input-0", dt: dtFP64, width: width}}
	}
	out := make([]tensor, len(tcs))
	sum := 0
	seen := map[string]bool{}
	for i, tc := range tcs {
		t := tensor{name: tc.Name, dt: dtFP64, width: tc.Width}
		if tc.Name == "" || seen[tc.Name] {
			p.add("%s[%d].name: want a unique tensor name, got %q", path, i, tc.Name)
		}
		seen[tc.Name] = true
		if tc.Datatype != "" {
			d, err := parseDtype(tc.Datatype)
			if err != nil {
				p.add("%s[%d].datatype: %v", path, i, err)
			}
			t.dt = d
		}
		switch {
		case tc.Width == 0 && len(tcs) == 1:
			t.width = width
		case tc.Width <= 0:
			p.add("%s[%d].width: must be positive with several tensors", path, i)
		}
		sum += t.width
		out[i] = t
	}
	if sum != width {
		p.add("%s: widths add up to %d, the inputs to %d values", path, sum, width)
	}
	return out
}

// compileParams renders the parameters an oip model sends (the spec's
// $parameters: string, number or boolean values).
func compileParams(p *problems, path string, params map[string]any) []byte {
	if params == nil {
		return nil
	}
	for k, v := range params {
		switch v.(type) {
		case string, bool, int, int64, uint64, float64:
		default:
			p.add("%s.%s: want a string, number or boolean, got %T", path, k, v)
		}
	}
	b, err := json.Marshal(params) // sorted keys: one body per input
	if err != nil {
		p.add("%s: %v", path, err)
	}
	return b
}
