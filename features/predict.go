package features

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"strconv"
	"time"

	"github.com/tiercel/tiercel/cache"
)

// Source says where a prediction came from.
type Source uint8

const (
	SourceCache   Source = iota + 1 // the prediction cache (L1 or L2)
	SourceModel                     // the model, just now
	SourceStale                     // the entity's last good prediction (model unavailable)
	SourceDefault                   // the model's declared default
)

var sourceNames = [...]string{SourceCache: "cache", SourceModel: "model", SourceStale: "stale", SourceDefault: "default"}

func (s Source) String() string {
	if int(s) < len(sourceNames) && sourceNames[s] != "" {
		return sourceNames[s]
	}
	return "unknown"
}

// PredictRequest asks for predictions either by entities (the model's
// input features are read through Get) or by raw input vectors.
type PredictRequest struct {
	JoinKeys []string   // by entities: columns...
	Rows     [][]string // ...and their text values, as in Query
	Inputs   [][]float64
}

// Prediction is one row's answer.
type Prediction struct {
	Value  float64
	Source Source
}

// PredictResult answers a PredictRequest, one Prediction per row.
type PredictResult struct {
	Model, Version string
	Rows           []Prediction
	// Query is the entity query the inputs were read with (nil for raw
	// inputs); rendering echoes its entities.
	Query *Query
	// Incomplete: some input features were not read in time.
	Incomplete bool
}

// Predict answers req with model name: from the prediction cache, else one
// batched model call for every row that missed, else per row the entity's
// last good prediction (stale), else the model's default. It returns by
// ctx's deadline capped by the model's budget. When some row has none of
// these it returns an Unavailable error.
func (s *Store) Predict(ctx context.Context, name string, req *PredictRequest) (*PredictResult, error) {
	m := s.reg.models[name]
	if m == nil {
		return nil, errf(NotFound, "unknown_model", "unknown model %q", clipStr(name))
	}
	budget := m.budget
	if _, ok := ctx.Deadline(); !ok && budget == 0 {
		budget = defaultModelBudget
	}
	ctx, cancel := budgetCtx(ctx, time.Now(), budget)
	if cancel != nil {
		defer cancel()
	}
	out := &PredictResult{Model: m.name, Version: m.version}
	vecs, entityKeys, err := s.modelInputs(ctx, m, req, out)
	if err != nil {
		return nil, err
	}
	out.Rows = make([]Prediction, len(vecs))
	br := &batchReq{timeout: m.timeout, tags: []string{ModelTag(m.name)}, call: func(ctx context.Context, ps []*pendingFill) { s.callModel(ctx, m, ps) }}
	if m.backend == backendBuiltin {
		br.timeout = time.Second // never slow; bounded anyway
	}
	at := make([]int, len(vecs)) // row → index in br.keys, -1: no vector
	seen := map[string]int{}
	now := s.now()
	for i, vec := range vecs {
		at[i] = -1
		if vec == nil {
			continue
		}
		key := m.predictionKey(vec)
		if e, fr, ok := s.cache.Get([]byte(key), now); ok && fr == cache.Fresh {
			out.Rows[i] = Prediction{Value: decodePrediction(e.Value), Source: SourceCache}
			continue
		}
		if j, dup := seen[key]; dup {
			at[i] = j
			continue
		}
		seen[key] = len(br.keys)
		at[i] = len(br.keys)
		br.keys = append(br.keys, key)
		br.args = append(br.args, vec)
	}
	if len(br.keys) > 0 {
		s.fetchBatched(ctx, s.cache, br, now)
	}
	return out, s.settlePredictions(ctx, m, out, br, at, entityKeys)
}

// served is what answered a prediction row that neither the cache nor the
// model did.
type served uint8

const (
	servedStale   served = iota // the entity's last good prediction
	servedDefault               // the model's declared default
	servedNone                  // nothing: the request fails
	numServed
)

var servedNames = [numServed]string{servedStale: "stale", servedDefault: "default", servedNone: "none"}

// settlePredictions fills the rows the cache could not answer at once, down
// the fallback ladder, and remembers good predictions per entity.
func (s *Store) settlePredictions(ctx context.Context, m *model, out *PredictResult, br *batchReq, at []int, entityKeys []string) error {
	var failed []int // rows for the fallback ladder
	for i := range out.Rows {
		if out.Rows[i].Source != 0 {
			continue
		}
		if j := at[i]; j >= 0 && br.entries[j] != nil {
			src := SourceModel
			switch br.sources[j] {
			case cache.OutcomeHitL1, cache.OutcomeHitL2, cache.OutcomeStale:
				src = SourceCache
			case cache.OutcomeStaleError:
				src = SourceStale
			}
			out.Rows[i] = Prediction{Value: decodePrediction(br.entries[j].Value), Source: src}
			if entityKeys != nil && src == SourceModel {
				s.lg.set(m.name, entityKeys[i], out.Rows[i].Value)
			}
			continue
		}
		failed = append(failed, i)
	}
	missing := s.fallBack(ctx, m, out, br, at, entityKeys, failed)
	s.st.predictions.Add(uint64(len(out.Rows)))
	for _, p := range out.Rows {
		switch p.Source {
		case SourceCache:
			s.st.predCacheHits.Add(1)
		case SourceModel:
			s.st.predModel.Add(1)
		case SourceStale:
			s.st.predStale.Add(1)
		case SourceDefault:
			s.st.predDefault.Add(1)
		}
	}
	if missing > 0 {
		return &Error{Kind: Unavailable, Code: "model_unavailable",
			Message: "model " + m.String() + " is unavailable and has no fallback for " + strconv.Itoa(missing) + " of the rows",
			Err:     ErrUnavailable}
	}
	return nil
}

// fallBack answers the failed rows with the entity's last good prediction
// (this process's, else Redis', read in one MGET), else the default, and
// returns how many rows are left without an answer.
func (s *Store) fallBack(ctx context.Context, m *model, out *PredictResult, br *batchReq, at []int, entityKeys []string, failed []int) int {
	if len(failed) == 0 {
		return 0
	}
	var remote []int // rows whose last good is to be looked for in Redis
	if entityKeys != nil {
		for _, i := range failed {
			if v, ok := s.lg.get(m.name, entityKeys[i]); ok {
				out.Rows[i] = Prediction{Value: v, Source: SourceStale}
			} else {
				remote = append(remote, i)
			}
		}
	}
	if len(remote) > 0 {
		ents := make([]string, len(remote))
		for k, i := range remote {
			ents[k] = entityKeys[i]
		}
		vals, ok := s.lg.fetch(ctx, s.reg.cfg.RedisTimeout, m.name, ents)
		for k, i := range remote {
			if ok[k] {
				out.Rows[i] = Prediction{Value: vals[k], Source: SourceStale}
			}
		}
	}
	missing := 0
	for _, i := range failed {
		reason := ReasonNoInputs
		if j := at[i]; j >= 0 {
			reason = reasonOf(br.errs[j])
		}
		what := servedStale
		switch {
		case out.Rows[i].Source == SourceStale:
		case m.def != nil:
			out.Rows[i] = Prediction{Value: *m.def, Source: SourceDefault}
			what = servedDefault
		default:
			what = servedNone
			missing++
		}
		m.fallbacks[what][reason].Add(1)
	}
	return missing
}

// modelInputs returns one input vector per row (nil: inputs missing) and,
// for entity requests, each row's entity key for the last good prediction.
func (s *Store) modelInputs(ctx context.Context, m *model, req *PredictRequest, out *PredictResult) ([][]float64, []string, error) {
	if req.Inputs != nil {
		if req.Rows != nil {
			return nil, nil, errf(BadRequest, "bad_request", "give entities or inputs, not both")
		}
		if len(req.Inputs) > s.reg.cfg.MaxEntities {
			return nil, nil, errf(TooLarge, "too_many_rows", "%d input rows, at most %d per request", len(req.Inputs), s.reg.cfg.MaxEntities)
		}
		var p problems
		for i, v := range req.Inputs {
			if len(v) != m.width {
				p.add("inputs[%d]: %d values, model %s takes %d", i, len(v), m, m.width)
			}
			for j, f := range v {
				if math.IsNaN(f) || math.IsInf(f, 0) {
					p.add("inputs[%d][%d]: not a finite number", i, j)
				}
			}
		}
		return req.Inputs, nil, p.err(BadRequest, "bad_inputs")
	}
	refs := make([]string, len(m.inputs))
	for i, in := range m.inputs {
		refs[i] = in.ref
	}
	q, err := s.NewQuery(refs, req.JoinKeys, req.Rows)
	if err != nil {
		return nil, nil, err
	}
	if len(q.Rows) == 0 {
		return nil, nil, errf(BadRequest, "no_rows", "no entities or inputs")
	}
	res, err := s.Get(ctx, q)
	if err != nil {
		return nil, nil, err
	}
	defer res.Release()
	out.Query, out.Incomplete = q, res.Incomplete
	vecs := make([][]float64, len(q.Rows))
	keys := make([]string, len(q.Rows))
	qv := &q.views[0]
	for i, row := range q.Rows {
		keys[i] = string(appendEntityKey(nil, row, qv.cols))
		vec := make([]float64, 0, m.width)
		for j, in := range m.inputs {
			c := res.Cell(i, j)
			if c.Status != StatusPresent && c.Status != StatusDefault {
				vec = nil
				break
			}
			if vec, err = in.typ.numbers(vec, c.Value); err != nil {
				vec = nil
				break
			}
		}
		vecs[i] = vec
	}
	return vecs, keys, nil
}

// predictionKey is model@version plus a hash of the input vector: a changed
// input, or a new version, can never find an old prediction.
func (m *model) predictionKey(vec []float64) string {
	h := sha256.New()
	var b [8]byte
	for _, f := range vec {
		if f == 0 {
			f = 0 // -0 and 0 predict alike
		}
		binary.LittleEndian.PutUint64(b[:], math.Float64bits(f))
		h.Write(b[:])
	}
	var sum [sha256.Size]byte
	return m.keyPrefix + hex.EncodeToString(h.Sum(sum[:0])[:16])
}

func encodePrediction(v float64) []byte {
	return binary.LittleEndian.AppendUint64(nil, math.Float64bits(v))
}

func decodePrediction(b []byte) float64 {
	if len(b) != 8 {
		return math.NaN()
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(b))
}

// callModel predicts every pending row with one backend call, through the
// model's breaker.
func (s *Store) callModel(ctx context.Context, m *model, ps []*pendingFill) {
	s.st.modelCalls.Add(1)
	vecs := make([][]float64, len(ps))
	for i, p := range ps {
		vecs[i] = p.arg.([]float64)
	}
	var ys []float64
	var err error
	switch m.backend {
	case backendBuiltin:
		ys = m.builtin(vecs)
	case backendOIP:
		// An input the tensors cannot carry fails before the breaker: it
		// says nothing of the server's health.
		body, id, encErr := m.appendInferBody(nil, vecs)
		var done func(error)
		if err = encErr; err == nil {
			if done, err = m.br.allow(); err == nil {
				ys, err = s.inferOIP(ctx, m, body, id, len(vecs))
				done(err)
			}
		}
		if encErr != nil || (err != nil && done != nil) {
			s.st.modelErrors.Add(1)
			s.logModelError(m, err)
		}
	default:
		err = errors.New("BUG: model without backend")
	}
	now := s.now()
	for i, p := range ps {
		if err != nil {
			p.err = err
			continue
		}
		p.entry = &cache.Entry{Value: encodePrediction(ys[i]), StoredAt: now, FreshUntil: now.Add(m.ttl)}
	}
}

// builtin evaluates a linear or logistic regression.
func (m *model) builtin(vecs [][]float64) []float64 {
	ys := make([]float64, len(vecs))
	for i, x := range vecs {
		y := m.weights.Bias
		for j, w := range m.weights.Weights {
			y += w * x[j]
		}
		if m.logistic {
			y = 1 / (1 + math.Exp(-y))
		}
		ys[i] = y
	}
	return ys
}
