package gateway

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tiercel/tiercel/features"
)

// builtinHandler answers a route in process instead of proxying it. It runs
// after authentication and rate limiting, with the request's deadline.
type builtinHandler func(s *generation, ctx *fasthttp.RequestCtx, st *reqState, deadline time.Time)

// builtinHandlers are the handlers a route can name with `handler:`. All of
// them answer from the features.Store, which New creates whenever a route
// names one; predict reads the model from the path parameter {name}.
var builtinHandlers = map[string]builtinHandler{
	"features": serveNative,  // POST /v1/features
	"feast":    serveFeast,   // POST /get-online-features
	"push":     servePush,    // POST /v1/push
	"predict":  servePredict, // POST /v1/models/{name}/predict
	// Feast's writes and health (feastwrite.go).
	"feast_push":   serveFeastPush,   // POST /push
	"feast_write":  serveFeastWrite,  // POST /write-to-online-store
	"feast_health": serveFeastHealth, // GET /health
	// The Open Inference Protocol endpoints (oip.go).
	"oip_live":        serveOIPLive,       // GET /v2/health/live
	"oip_ready":       serveOIPReady,      // GET /v2/health/ready
	"oip_server":      serveOIPServer,     // GET /v2
	"oip_model":       serveOIPModel,      // GET /v2/models/{name}[/versions/{version}]
	"oip_model_ready": serveOIPModelReady, // GET /v2/models/{name}[/versions/{version}]/ready
	"oip_infer":       serveOIPInfer,      // POST /v2/models/{name}[/versions/{version}]/infer
}

func handlerNames() string {
	names := make([]string, 0, len(builtinHandlers))
	for n := range builtinHandlers {
		names = append(names, n)
	}
	slices.Sort(names)
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// builtinNeeds says what a route with handler h at path lacks in fc, or "",
// so that `tiercel validate` reports a handler with nothing to serve rather
// than every request failing: a predict route without models answers 404
// to everything, a features route without views 400. Config.validateRoutes
// calls it for every route with a handler.
func builtinNeeds(h, path string, fc *features.Config) string {
	if isOIPHandler(h) {
		return oipNeeds(h, path, fc)
	}
	switch {
	case h == "predict" && len(fc.Models) == 0:
		return `"predict" needs features.models`
	case h == "predict" && !slices.Contains(pathParams(path), "name"):
		return `"predict" needs the model as {name} in the path`
	case h != "predict" && len(fc.Views) == 0:
		return fmt.Sprintf("%q needs features.views", h)
	}
	return ""
}
