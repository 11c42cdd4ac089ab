package gateway

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/tiercel/tiercel/features"
	"github.com/tiercel/tiercel/gateway/reqtarget"
)

// featureServe is the shape of the features.Store methods that answer a
// request body: the reply is appended to dst, or an error returned.
type featureServe func(c context.Context, body, dst []byte) ([]byte, error)

// serveNative answers POST /v1/features.
func serveNative(s *generation, ctx *fasthttp.RequestCtx, st *reqState, deadline time.Time) {
	s.serveFeatures(ctx, st, deadline, "features", s.featureStore().ServeNative)
}

// serveFeast answers Feast's POST /get-online-features, errors in Feast's
// shape (feasterror.go).
func serveFeast(s *generation, ctx *fasthttp.RequestCtx, st *reqState, deadline time.Time) {
	if err := s.callFeatures(ctx, st, deadline, "features", s.featureStore().ServeFeast); err != nil {
		s.writeFeastError(ctx, err, st)
	}
}

// servePush answers POST /v1/push.
func servePush(s *generation, ctx *fasthttp.RequestCtx, st *reqState, deadline time.Time) {
	// Through pushRows, as Feast's writes: every replica drops the rows
	// from L1, by an event when Kafka is configured.
	s.serveFeatures(ctx, st, deadline, "push", func(_ context.Context, body, dst []byte) ([]byte, error) {
		view, rows, err := features.ParsePush(body)
		if err != nil {
			return dst, err
		}
		if err := s.pushRows(st, deadline, []features.ViewRows{{View: view, Rows: rows}}); err != nil {
			return dst, err
		}
		return features.AppendPushReply(dst, view, len(rows)), nil
	})
}

// servePredict answers POST /v1/models/{name}/predict.
func servePredict(s *generation, ctx *fasthttp.RequestCtx, st *reqState, deadline time.Time) {
	// A string: the model name outlives nothing, but ServePredict's
	// signature takes one; the copy is small next to a prediction. The
	// name is the parameter's value, not its spelling in the path.
	model := string(reqtarget.AppendUnescaped(nil, st.params.Get("name")))
	fs := s.featureStore()
	s.serveFeatures(ctx, st, deadline, "predict", func(c context.Context, body, dst []byte) ([]byte, error) {
		return fs.ServePredict(c, model, body, dst)
	})
}

// featureStore returns the Store the built-in handlers answer from. New
// creates it whenever a route names a handler, so nil is a broken
// invariant, not a configuration error.
func (s *generation) featureStore() *features.Store {
	if s.features == nil {
		panic("BUG: a built-in feature handler runs without a features.Store")
	}
	return s.features
}

// serveFeatures runs one features call within the route's budget and writes
// its reply. The context carries the deadline so that Redis, feature
// upstreams and model servers get only what is left of the budget:
// fasthttp's RequestCtx is never cancelled per request.
func (s *generation) serveFeatures(ctx *fasthttp.RequestCtx, st *reqState, deadline time.Time, stage string, serve featureServe) {
	if err := s.callFeatures(ctx, st, deadline, stage, serve); err != nil {
		writeError(ctx, s.featureError(err, st), st.id)
	}
}

// callFeatures runs serve and leaves its reply in the response, or returns
// its error for the caller to answer in its endpoint's shape.
func (s *generation) callFeatures(ctx *fasthttp.RequestCtx, st *reqState, deadline time.Time, stage string, serve featureServe) error {
	c, cancel := context.WithDeadline(context.Background(), deadline)
	if s.featureStore().ForwardsAuthorization() {
		// An http view sends the caller's token upstream (auth.forward).
		c = features.WithAuthorization(c, string(ctx.Request.Header.Peek(fasthttp.HeaderAuthorization)))
	}
	resp := &ctx.Response
	// The reply is appended straight into the response's pooled body
	// buffer: SwapBody lends us its bytes and takes them back, no copy.
	dst, err := serve(c, ctx.PostBody(), resp.SwapBody(nil)[:0])
	cancel()
	resp.SwapBody(dst)
	st.stage(stage)
	if err != nil {
		return err
	}
	resp.Header.SetContentType("application/json")
	return nil
}

// featureStatus maps a features.Kind to the status the client sees.
var featureStatus = [...]int{
	features.BadRequest:  fasthttp.StatusBadRequest,
	features.TooLarge:    fasthttp.StatusRequestEntityTooLarge,
	features.NotFound:    fasthttp.StatusNotFound,
	features.Unavailable: fasthttp.StatusServiceUnavailable,
}

// featureError turns a features error into the gateway's JSON error. The
// feature error's Code and Message are meant for clients (they name every
// bad input); its cause is not, and is only logged.
func (s *generation) featureError(err error, st *reqState) *Error {
	var fe *features.Error
	if !errors.As(err, &fe) || int(fe.Kind) >= len(featureStatus) || featureStatus[fe.Kind] == 0 {
		s.log.Error("features call failed", "error", err.Error(), "request_id", string(st.id))
		return errInternal
	}
	if fe.Kind == features.Unavailable {
		cause := fe.Message
		if fe.Err != nil {
			cause = fe.Err.Error()
		}
		s.log.Warn("features dependency unavailable", "code", fe.Code, "cause", cause, "request_id", string(st.id))
	}
	return &Error{Status: featureStatus[fe.Kind], Code: fe.Code, Message: fe.Message}
}

// featureChecks reports the features' dependencies for /readyz: down while
// a breaker is open (its rows are answered by fallbacks), degraded while
// it probes (half-open). Either leaves the gateway ready: it still answers.
func (s *generation) featureChecks() map[string]Check {
	out := map[string]Check{}
	if s.features == nil {
		return out
	}
	for _, d := range s.features.Dependencies() {
		c := Check{Status: "ok", Detail: featureDetail{Breaker: d.Breaker, Skipped: d.Skipped, Detail: d.Detail}}
		switch {
		case d.Down():
			c.Status = "down"
		case d.Breaker == "half-open":
			c.Status = "degraded"
		}
		out[d.Name] = c
	}
	return out
}

type featureDetail struct {
	Breaker string `json:"breaker,omitempty"` // closed | open | half-open
	Skipped uint64 `json:"skipped_calls,omitempty"`
	Detail  string `json:"detail,omitempty"`
}

var (
	descFeatValues    = desc("features_values_total", "Feature values answered.")
	descFeatRows      = desc("features_rows_total", "Feature rows looked up, by where they came from (l1, redis).", "source")
	descFeatRedis     = desc("features_redis_pipelines_total", "Redis pipelines sent by feature reads, by result.", "result")
	descFeatRowErrors = desc("features_redis_row_errors_total", "Feature rows whose Redis reply was an error (a key of another type, a slot the cluster could not serve), answered by their fallback; per row, apart from the pipelines.")
	descFeatUpstream  = desc("features_upstream_calls_total", "Batched calls to http views' upstreams, by result.", "result")
	descFeatBad       = desc("features_bad_stored_total", "Stored values (or whole rows) that were not of their type, read as absent.", "what")
	descFeatFallback  = desc("features_fallback_rows_total", "Feature rows answered without their source (NOT_FOUND or DEFAULT values), by view and reason.", "view", "reason")
	descPredictions   = desc("predictions_total", "Prediction rows answered, by source (cache, model, stale, default).", "source")
	descPredFallback  = desc("prediction_fallbacks_total", "Prediction rows not answered by the model or the cache, by model, what answered (stale, default, none) and why.", "model", "served", "reason")
	descFeatBreaker   = desc("features_breaker_state", "State of the breaker of a features dependency (1 for the current state).", "dependency", "state")
	descFeatSkipped   = desc("features_breaker_skipped_total", "Calls a features dependency's open breaker answered at once.", "dependency")
	breakerStateNames = []string{"closed", "half-open", "open"}
)

// collectFeatures exports the features.Store's counters.
func (s *generation) collectFeatures(counter func(*prometheus.Desc, uint64, ...string), gauge func(*prometheus.Desc, float64, ...string)) {
	if s.features == nil {
		return
	}
	st := s.features.Stats()
	counter(descFeatValues, st.Values)
	counter(descFeatRows, st.RowL1Hits, "l1")
	counter(descFeatRows, st.RowRedisReads, "redis")
	counter(descFeatRedis, st.RedisPipelines-st.RedisFailures, "ok")
	counter(descFeatRedis, st.RedisFailures, "error")
	counter(descFeatRowErrors, st.RowErrors)
	counter(descFeatUpstream, st.UpstreamCalls-st.UpstreamErrors, "ok")
	counter(descFeatUpstream, st.UpstreamErrors, "error")
	counter(descFeatBad, st.BadStoredValues, "value")
	counter(descFeatBad, st.BadStoredRows, "row")
	counter(descPredictions, st.PredCacheHits, "cache")
	counter(descPredictions, st.PredStale, "stale")
	counter(descPredictions, st.PredDefault, "default")
	counter(descPredictions, st.PredModel, "model")
	for _, f := range s.features.Fallbacks() {
		kind, name, _ := strings.Cut(f.Name, ":")
		if kind == "view" {
			counter(descFeatFallback, f.Rows, name, f.Reason.String())
		} else {
			counter(descPredFallback, f.Rows, name, f.Served, f.Reason.String())
		}
	}
	for _, d := range s.features.Dependencies() {
		if d.Breaker == "" {
			continue
		}
		for _, state := range breakerStateNames {
			gauge(descFeatBreaker, b2f(state == d.Breaker), d.Name, state)
		}
		counter(descFeatSkipped, d.Skipped, d.Name)
	}
}
