package features

import (
	"context"
	"net/url"
	"os"
	"strings"
)

// Authentication of http views to their upstreams, and the query that asks
// a Feast server for statuses and event times.

// statusURL is u asking for statuses and event times: Feast's Go server
// sends only values unless the query says status=true
// (go/internal/feast/server/http_server.go, getOnlineFeatures); the Python
// server always sends them and ignores the query.
func statusURL(u *url.URL) string {
	c := *u
	q := c.Query()
	q.Set("status", "true")
	c.RawQuery = q.Encode()
	return c.String()
}

// compileAuth reads a view's upstream token, or notes that the caller's is
// forwarded.
func compileAuth(p *problems, path string, a UpstreamAuth, v *view) {
	n := 0
	for _, set := range []bool{a.TokenFile != "", a.TokenEnv != "", a.Forward} {
		if set {
			n++
		}
	}
	if n > 1 {
		p.add("%s: set one of token_file, token_env and forward", path)
		return
	}
	var token string
	switch {
	case a.Forward:
		v.forwardAuth = true
		return
	case a.TokenFile != "":
		data, err := os.ReadFile(a.TokenFile)
		if err != nil {
			p.add("%s.token_file: %v", path, err)
			return
		}
		token = strings.TrimSpace(string(data))
	case a.TokenEnv != "":
		token = strings.TrimSpace(os.Getenv(a.TokenEnv))
	default:
		return
	}
	if token == "" {
		p.add("%s: the token is empty", path)
		return
	}
	v.authHeader = "Bearer " + token
}

type authKey struct{}

// WithAuthorization returns ctx carrying the caller's Authorization header,
// which http views with auth.forward send to their upstreams. The gateway
// sets it only when ForwardsAuthorization says a view needs it.
func WithAuthorization(ctx context.Context, header string) context.Context {
	return context.WithValue(ctx, authKey{}, header)
}

func authorizationOf(ctx context.Context) string {
	h, _ := ctx.Value(authKey{}).(string)
	return h
}

// ForwardsAuthorization says whether a view sends the caller's
// Authorization header upstream (and so needs WithAuthorization).
func (s *Store) ForwardsAuthorization() bool {
	for _, v := range s.reg.viewList {
		if v.forwardAuth {
			return true
		}
	}
	return false
}
