package gateway

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/tiercel/tiercel/features"
	"github.com/tiercel/tiercel/gateway/reqtarget"
	"github.com/tiercel/tiercel/internal/buildinfo"
	"github.com/tiercel/tiercel/internal/jsonstr"
)

// The Open Inference Protocol (KServe v2 REST) endpoints, so that OIP
// clients call the gateway unchanged: built-in handlers a route names, so
// they have the routes' auth, scopes, rate limits and budgets. The model
// is the path parameter {name}; {version}, when the route's path has it,
// must be the model's version. Their errors are OIP's {"error": "..."}
// (the spec's $inference_error_response), not the gateway's error object;
// errors of the gateway before the handler (auth, rate limit) keep the
// gateway's shape.

// oipNeeds is builtinNeeds for the oip_ handlers: every one needs models;
// those of one model need it as {name} in the path.
func oipNeeds(h, path string, fc *features.Config) string {
	switch {
	case len(fc.Models) == 0:
		return fmt.Sprintf("%q needs features.models", h)
	case (h == "oip_model" || h == "oip_model_ready" || h == "oip_infer") && !slices.Contains(pathParams(path), "name"):
		return fmt.Sprintf("%q needs the model as {name} in the path", h)
	}
	return ""
}

// isOIPHandler says whether h is one of the oip_ handlers.
func isOIPHandler(h string) bool { return strings.HasPrefix(h, "oip_") }

func serveOIPLive(s *generation, ctx *fasthttp.RequestCtx, st *reqState, _ time.Time) {
	writeOIP(ctx, fasthttp.StatusOK, append([]byte(nil), `{"live":true}`...))
}

// serveOIPReady is the spec's "server ready": not while draining, nor
// while some model is not ready.
func serveOIPReady(s *generation, ctx *fasthttp.RequestCtx, st *reqState, _ time.Time) {
	if s.draining.Load() || !s.featureStore().ModelsReady() {
		writeOIP(ctx, fasthttp.StatusServiceUnavailable, append([]byte(nil), `{"ready":false}`...))
		return
	}
	writeOIP(ctx, fasthttp.StatusOK, append([]byte(nil), `{"ready":true}`...))
}

func serveOIPServer(s *generation, ctx *fasthttp.RequestCtx, st *reqState, _ time.Time) {
	b := append([]byte(nil), `{"name":"tiercel","version":`...)
	b = jsonstr.Append(b, buildinfo.Get().Version)
	writeOIP(ctx, fasthttp.StatusOK, append(b, `,"extensions":[]}`...))
}

func serveOIPModel(s *generation, ctx *fasthttp.RequestCtx, st *reqState, _ time.Time) {
	name, version := oipModel(st)
	b, err := s.featureStore().AppendModelMetadata(nil, name, version)
	if err != nil {
		s.writeOIPError(ctx, st, err)
		return
	}
	writeOIP(ctx, fasthttp.StatusOK, b)
}

func serveOIPModelReady(s *generation, ctx *fasthttp.RequestCtx, st *reqState, _ time.Time) {
	name, version := oipModel(st)
	ready, err := s.featureStore().ModelReady(name, version)
	if err != nil {
		s.writeOIPError(ctx, st, err)
		return
	}
	status := fasthttp.StatusOK
	if !ready {
		status = fasthttp.StatusServiceUnavailable
	}
	b := append([]byte(nil), `{"name":`...)
	b = jsonstr.Append(b, name)
	b = append(b, `,"ready":`...)
	b = append(b, fmt.Sprint(ready)...)
	writeOIP(ctx, status, append(b, '}'))
}

// serveOIPInfer answers an inference request within the route's budget,
// as servePredict does.
func serveOIPInfer(s *generation, ctx *fasthttp.RequestCtx, st *reqState, deadline time.Time) {
	name, version := oipModel(st)
	c, cancel := context.WithDeadline(context.Background(), deadline)
	resp := &ctx.Response
	dst, err := s.featureStore().ServeInfer(c, name, version, ctx.PostBody(), resp.SwapBody(nil)[:0])
	cancel()
	resp.SwapBody(dst)
	st.stage("predict")
	if err != nil {
		s.writeOIPError(ctx, st, err)
		return
	}
	resp.Header.SetContentType("application/json")
}

// oipModel reads the model and the optional version from the path.
func oipModel(st *reqState) (name, version string) {
	name = string(reqtarget.AppendUnescaped(nil, st.params.Get("name")))
	if v := st.params.Get("version"); v != nil {
		version = string(reqtarget.AppendUnescaped(nil, v))
	}
	return name, version
}

func writeOIP(ctx *fasthttp.RequestCtx, status int, body []byte) {
	ctx.Response.SetStatusCode(status)
	ctx.Response.Header.SetContentType("application/json")
	ctx.Response.SetBody(body)
}

// writeOIPError writes a features error as OIP's error object, with the
// status the gateway's own error shape would have.
func (s *generation) writeOIPError(ctx *fasthttp.RequestCtx, st *reqState, err error) {
	e := s.featureError(err, st)
	resp := &ctx.Response
	resp.Reset()
	resp.SetStatusCode(e.Status)
	resp.Header.SetContentType("application/json")
	resp.Header.Set("Cache-Control", "no-store")
	if len(st.id) > 0 {
		resp.Header.SetBytesV(headerRequestID, st.id)
	}
	b := append(resp.Body()[:0], `{"error":`...) // Reset left no buffer: a new one
	b = jsonstr.Append(b, e.Message)
	resp.SetBodyRaw(append(b, "}\n"...))
}

var descModelErrors = desc("model_errors_total", "Failed calls to OIP model servers, by model and class: transport (no answer), 4xx, 5xx (the server's status; its error text is logged), bad_answer (a 200 that could not be used), bad_input (an input not representable in its tensor's datatype).", "model", "class")

// collectModelErrors exports the failed model calls.
func (s *generation) collectModelErrors(counter func(*prometheus.Desc, uint64, ...string)) {
	if s.features == nil {
		return
	}
	for _, e := range s.features.ModelErrorCounts() {
		counter(descModelErrors, e.Calls, e.Model, e.Class)
	}
}
