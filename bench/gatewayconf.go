package bench

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"text/template"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tiercel/tiercel/gateway/auth"
)

// gatewayConf is the config file the tool writes for a gateway it starts.
type gatewayConf struct {
	Listen, Admin  string
	Origin         string   // host:port of the 1 KiB origin
	RedisURL       string   // "" for an L1-only gateway
	RedisCluster   []string // a Redis Cluster's nodes (instead of RedisURL)
	KafkaBroker    string   // host:port; "" for no Kafka
	L1Bytes        int64    // 0: the gateway's default
	ClusterScripts bool     // cache.l2_cluster_scripts
	Auth           bool
	RateLimit      bool
	Secret         string // HS256 key the tool signs its tokens with
}

// Token claims of the tool's tokens: one subject, every scope of the
// generated routes.
const (
	benchIssuer   = "tiercel-bench"
	benchAudience = "tiercel"
	benchKID      = "bench-1"
	benchScopes   = "products:read features:read predict"
	// benchRate admits any load one machine can send: the limiter still
	// runs its check on every request, but a 429 would be an error.
	benchRate = 100_000_000
)

// newSecret is a fresh HS256 key for one run, so no token outlives it.
func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// issuer is the auth config the generated file declares, so tokens are
// signed by the gateway's own auth package with the same settings.
func (c gatewayConf) issuer() auth.IssuerConfig {
	return auth.IssuerConfig{
		Name: "bench", Issuer: benchIssuer, Audiences: []string{benchAudience},
		Algorithms: []string{"HS256"}, Keys: []auth.KeyConfig{{KID: benchKID, Secret: c.Secret}},
	}
}

// token mints a token for the generated gateway, valid for ttl.
func (c gatewayConf) token(ttl time.Duration) (string, error) {
	now := time.Now()
	return auth.Sign(c.issuer(), jwt.MapClaims{
		"sub": "bench", "aud": benchAudience, "scope": benchScopes,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(ttl).Unix(),
	})
}

func (c gatewayConf) render() (string, error) {
	var b strings.Builder
	if err := gatewayTemplate.Execute(&b, c); err != nil {
		return "", fmt.Errorf("cannot render the gateway config: %w", err)
	}
	return b.String(), nil
}

// gatewayTemplate: a cached product route over the origin, the feature and
// prediction handlers over the demo's in-process view (users u1…u1000,
// seeded at start) and builtin churn model. Values are quoted where a
// reader might otherwise see YAML syntax.
var gatewayTemplate = template.Must(template.New("gateway").Parse(`# Written by tiercel-bench for one scenario; not for production.
server:
  listen: "{{.Listen}}"
  admin_listen: "{{.Admin}}"
  drain_delay: -1s # no balancer to wait for; Proc.Close kills after 5s
log:
  level: warn
{{- if .RedisCluster}}
redis:
  mode: cluster
  addrs: [{{range $i, $a := .RedisCluster}}{{if $i}}, {{end}}"{{$a}}"{{end}}]
{{- else if .RedisURL}}
redis:
  url: "{{.RedisURL}}"
{{- end}}
{{- if .KafkaBroker}}
kafka:
  brokers: ["{{.KafkaBroker}}"]
  topic: ` + benchTopic + `
  max_wait: 100ms
{{- end}}
{{- if or .L1Bytes .ClusterScripts}}
cache:
{{- if .L1Bytes}}
  l1_max_bytes: {{.L1Bytes}}
{{- end}}
{{- if .ClusterScripts}}
  l2_cluster_scripts: true
{{- end}}
{{- end}}
auth:
  issuers:
    - name: bench
      issuer: ` + benchIssuer + `
      audiences: [` + benchAudience + `]
      algorithms: [HS256]
      keys:
        - {kid: ` + benchKID + `, secret: "{{.Secret}}"}
{{- if .RateLimit}}
rate_limit:
  policies:
    bench: {rate: ` + fmt.Sprint(benchRate) + `, burst: ` + fmt.Sprint(benchRate) + `, key: subject}
{{- end}}
upstreams:
  - name: origin
    targets: ["{{.Origin}}"]
    max_conns_per_target: 1024
features:
  seed_demo: true
  entities:
    - name: user
      join_keys: [{name: user_id, type: string}]
  views:
    - name: user_stats
      entities: [user]
      max_age: 168h
      source: {type: memory}
      features:
        - {name: clicks_7d, type: int64, default: 0}
        - {name: ctr_7d, type: float64, default: 0.0}
        - {name: country, type: string}
        - {name: is_premium, type: bool, default: false}
        - {name: embedding, type: "float32_vector[8]"}
  models:
    - name: churn
      version: "1"
      inputs: [user_stats:clicks_7d, user_stats:ctr_7d, user_stats:is_premium, user_stats:embedding]
      default: 0.5
      ttl: 1h
      backend:
        type: builtin
        kind: logistic
        weights:
          bias: 0.3
          weights: [-0.02, -4, -1.2, 0.3, -0.2, 0.1, 0.05, -0.15, 0.25, -0.1, 0.2]
routes:
{{- range .Routes}}
  - name: {{.Name}}
    path: {{.Path}}
    methods: [{{.Method}}]
{{- if .Handler}}
    handler: {{.Handler}}
{{- else}}
    upstream: origin
{{- end}}
{{- if $.Auth}}
    auth: {scopes: [{{.Scope}}]}
{{- else}}
    auth: {mode: none}
{{- end}}
{{- if $.RateLimit}}
    rate_limit: bench
{{- end}}
{{- if .Cached}}
    cache:
      enabled: true
      ttl: 1h
      tags: ["product:{id}"]
{{- end}}
{{- end}}
`))

type gatewayRoute struct {
	Name, Path, Method, Handler, Scope string
	Cached                             bool
}

// Routes are the generated gateway's routes.
func (gatewayConf) Routes() []gatewayRoute {
	return []gatewayRoute{
		{Name: "products", Path: "/api/products/{id}", Method: "GET, HEAD", Scope: "products:read", Cached: true},
		{Name: "proxy", Path: "/api/proxy/{id}", Method: "GET, HEAD", Scope: "products:read"},
		{Name: "features", Path: "/v1/features", Method: "POST", Handler: "features", Scope: "features:read"},
		{Name: "predict", Path: "/v1/models/{name}/predict", Method: "POST", Handler: "predict", Scope: "predict"},
	}
}
