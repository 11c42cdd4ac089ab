package gateway

import (
	"slices"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// builtinHandler answers a route in process instead of proxying it. It runs
// after authentication and rate limiting, with the request's deadline.
type builtinHandler func(s *Server, ctx *fasthttp.RequestCtx, st *reqState, deadline time.Time)

// builtinHandlers are the handlers a route can name with `handler:`.
var builtinHandlers = map[string]builtinHandler{}

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
