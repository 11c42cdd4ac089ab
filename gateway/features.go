package gateway

import (
	"context"
	"errors"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tiercel/tiercel/features"
)

// featureServe is the shape of the features.Store methods that answer a
// request body: the reply is appended to dst, or an error returned.
type featureServe func(c context.Context, body, dst []byte) ([]byte, error)

// serveNative answers POST /v1/features.
func serveNative(s *Server, ctx *fasthttp.RequestCtx, st *reqState, deadline time.Time) {
	s.serveFeatures(ctx, st, deadline, "features", s.featureStore().ServeNative)
}

// serveFeast answers Feast's POST /get-online-features.
func serveFeast(s *Server, ctx *fasthttp.RequestCtx, st *reqState, deadline time.Time) {
	s.serveFeatures(ctx, st, deadline, "features", s.featureStore().ServeFeast)
}

// servePush answers POST /v1/push.
func servePush(s *Server, ctx *fasthttp.RequestCtx, st *reqState, deadline time.Time) {
	s.serveFeatures(ctx, st, deadline, "push", s.featureStore().ServePush)
}

// servePredict answers POST /v1/models/{name}/predict.
func servePredict(s *Server, ctx *fasthttp.RequestCtx, st *reqState, deadline time.Time) {
	// A string: the model name outlives nothing, but ServePredict's
	// signature takes one; the copy is small next to a prediction.
	model := string(st.params.Get("name"))
	fs := s.featureStore()
	s.serveFeatures(ctx, st, deadline, "predict", func(c context.Context, body, dst []byte) ([]byte, error) {
		return fs.ServePredict(c, model, body, dst)
	})
}

// featureStore returns the Store the built-in handlers answer from. New
// creates it whenever a route names a handler, so nil is a broken
// invariant, not a configuration error.
func (s *Server) featureStore() *features.Store {
	if s.features == nil {
		panic("BUG: a built-in feature handler runs without a features.Store")
	}
	return s.features
}

// serveFeatures runs one features call within the route's budget and writes
// its reply. The context carries the deadline so that Redis, feature
// upstreams and model servers get only what is left of the budget:
// fasthttp's RequestCtx is never cancelled per request.
func (s *Server) serveFeatures(ctx *fasthttp.RequestCtx, st *reqState, deadline time.Time, stage string, serve featureServe) {
	c, cancel := context.WithDeadline(context.Background(), deadline)
	resp := &ctx.Response
	// The reply is appended straight into the response's pooled body
	// buffer: SwapBody lends us its bytes and takes them back, no copy.
	dst, err := serve(c, ctx.PostBody(), resp.SwapBody(nil)[:0])
	cancel()
	resp.SwapBody(dst)
	st.stage(stage)
	if err != nil {
		writeError(ctx, s.featureError(err, st), st.id)
		return
	}
	resp.Header.SetContentType("application/json")
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
func (s *Server) featureError(err error, st *reqState) *Error {
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
