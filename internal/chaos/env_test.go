package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tiercel/tiercel/gateway"
	"github.com/tiercel/tiercel/internal/testkafka"
	"github.com/tiercel/tiercel/internal/testredis"
)

const (
	issuer    = "https://issuer.chaos"
	kid       = "chaos-1"
	topic     = "tiercel.invalidations"
	warmUsers = 8 // users whose features and predictions are warmed
	warmKeys  = 4 // products warmed on both replicas
	// entryTTL is the freshness of feature rows and predictions, and
	// productTTL of products: short, so that entries expire while a fault
	// is on and the ladder below "fresh" is exercised. Products live a
	// little longer so that, at the suite's rates, a key refreshed by one
	// replica is often still fresh in Redis when the other one needs it:
	// the HIT-L2 answers that show the shared tier at work.
	entryTTL   = 200 * time.Millisecond
	productTTL = 500 * time.Millisecond
)

// env is one fault's world: real dependencies, each behind a fault proxy
// (Kafka is stopped and restarted instead, a Redis Cluster's masters
// killed), and two gateway replicas that share Redis, the way a
// deployment does.
type env struct {
	t  testing.TB
	fx *fixture

	redis   *testredis.Server  // nil on a cluster
	cluster *testredis.Cluster // nil on a single Redis
	kill    *masterKill        // the cluster fault's victim and timings
	kafka   *testkafka.Cluster
	origins [2]*origin
	feats   *featureServer
	model   *modelServer

	redisP, featP, modelP, jwksP *Proxy
	originP                      [2]*Proxy

	gws    [2]*gateway.Server
	bases  []string
	admins []string
	http   *http.Client
}

// newEnv starts one fault's world. On a cluster, the replicas talk to
// the cluster's nodes directly: its nodes announce their own addresses, so
// a proxy in front of them would be bypassed at the first redirection.
func newEnv(t testing.TB, fx *fixture, cluster bool) *env {
	t.Helper()
	e := &env{t: t, fx: fx, http: &http.Client{Timeout: 5 * time.Second}}
	if cluster {
		e.cluster = testredis.StartCluster(t, 3, 1)
	} else {
		e.redis = testredis.Start(t)
		e.redisP = e.proxy("redis", e.redis.Addr)
	}
	e.kafka = testkafka.Start(t, testkafka.Topic(topic, 2))
	for i := range e.origins {
		e.origins[i] = &origin{name: fmt.Sprintf("origin-%d", i)}
		e.originP[i] = e.proxy(e.origins[i].name, serve(t, e.origins[i]))
	}
	e.feats = &featureServer{}
	e.featP = e.proxy("features", serve(t, e.feats))
	e.model = &modelServer{}
	e.modelP = e.proxy("model", serve(t, e.model))
	e.jwksP = e.proxy("jwks", serve(t, newJWKSServer(t, kid, fx.key)))
	t.Cleanup(e.shutdown) // before the dependencies' cleanups run
	for i := range e.gws {
		e.gws[i] = e.startGateway()
		e.bases = append(e.bases, "http://"+e.gws[i].Addr())
		e.admins = append(e.admins, "http://"+e.gws[i].AdminAddr())
	}
	return e
}

// shutdown stops the replicas side by side: each takes a while (it drains,
// closes the Kafka consumer and clears its caches), and they are
// independent.
func (e *env) shutdown() {
	var wg sync.WaitGroup
	for _, g := range e.gws {
		if g == nil {
			continue
		}
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := g.Shutdown(ctx); err != nil {
				e.t.Errorf("gateway shutdown: %v", err)
			}
		})
	}
	wg.Wait()
	e.http.CloseIdleConnections()
}

func (e *env) proxy(name, upstream string) *Proxy {
	e.t.Helper()
	p, err := NewProxy(name, upstream)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(p.Close)
	return p
}

// readiness is the /readyz document of replica i.
type readiness struct {
	Status string `json:"status"`
	Checks map[string]struct {
		Status string          `json:"status"`
		Detail json.RawMessage `json:"detail"`
	} `json:"checks"`
}

func (e *env) readyz(i int) (readiness, error) {
	var rd readiness
	resp, err := e.http.Get(e.admins[i] + "/readyz")
	if err != nil {
		return rd, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&rd)
	return rd, err
}

// openTargets lists the targets of an upstream check whose breaker is
// open, from the check's detail (field names matched case-insensitively).
func (rd readiness) openTargets(check string) []string {
	var targets []struct {
		Addr    string
		Breaker string
	}
	_ = json.Unmarshal(rd.Checks[check].Detail, &targets)
	var out []string
	for _, t := range targets {
		if t.Breaker == "open" {
			out = append(out, t.Addr)
		}
	}
	return out
}

// notOK lists the checks of replica i that are not ok, with their status.
func (rd readiness) notOK() []string {
	var out []string
	for name, c := range rd.Checks {
		if c.Status != "ok" {
			out = append(out, name+"="+c.Status)
		}
	}
	return out
}

// do sends one request to replica i and returns status and body.
func (e *env) do(i int, method, path, token, body string) (int, http.Header, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.bases[i]+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := e.http.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// warm fills both replicas' caches and the models' last good predictions.
func (e *env) warm(token string) {
	e.t.Helper()
	e.seedUntil(token, 10*time.Second)
	for i := range e.gws {
		for k := range warmKeys {
			if st, _, body := e.do(i, "GET", fmt.Sprintf("/api/products/%d", k), token, ""); st != 200 {
				e.t.Fatalf("warming product %d on replica %d: %d %s", k, i, st, body)
			}
		}
		for u := range warmUsers {
			if st, _, body := e.do(i, "POST", "/v1/features", token, featuresBody(fmt.Sprintf("u%d", u))); st != 200 {
				e.t.Fatalf("warming features of u%d on replica %d: %d %s", u, i, st, body)
			}
			if st, _, body := e.do(i, "POST", "/v1/models/churn/predict", token, predictBody(fmt.Sprintf("u%d", u))); st != 200 || !strings.Contains(body, `"source":"model"`) && !strings.Contains(body, `"source":"cache"`) {
				e.t.Fatalf("warming the prediction of u%d on replica %d: %d %s", u, i, st, body)
			}
		}
	}
}

// waitReady polls every replica's /readyz until it says ready.
func (e *env) waitReady(within time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for i := range e.gws {
		for {
			rd, err := e.readyz(i)
			if err == nil && rd.Status == "ready" {
				break
			}
			if time.Now().After(deadline) {
				e.t.Fatalf("replica %d not ready after %s: %v %s %v", i, within, err, rd.Status, rd.notOK())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// publish produces one invalidation event with kcat, an independent Kafka
// client, and waits for the broker's acknowledgement.
func (e *env) publish(id, tag string) {
	e.t.Helper()
	ev := fmt.Sprintf(`{"version":1,"id":%q,"type":"invalidate","tags":[%q],"ts":%q}`, id, tag, time.Now().UTC().Format(time.RFC3339Nano))
	testkafka.Kcat(e.t, e.kafka.Addr(), topic, tag, []byte(ev))
}

// metric returns the sum of every sample of a metric family on replica i
// whose line starts with prefix (name and optional labels).
func (e *env) metric(i int, prefix string) (float64, bool) {
	resp, err := e.http.Get(e.admins[i] + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var sum float64
	found := false
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v); err == nil {
			sum += v
			found = true
		}
	}
	return sum, found
}

func featuresBody(users ...string) string {
	ents := make([]string, len(users))
	for i, u := range users {
		ents[i] = fmt.Sprintf(`{"user_id":%q}`, u)
	}
	return `{"features":["stats:clicks","stats:ctr","profile:score","profile:segment"],"entities":[` + strings.Join(ents, ",") + `]}`
}

func predictBody(users ...string) string {
	ents := make([]string, len(users))
	for i, u := range users {
		ents[i] = fmt.Sprintf(`{"user_id":%q}`, u)
	}
	return `{"entities":[` + strings.Join(ents, ",") + `]}`
}

// seedUntil writes the warm users' stats rows to Redis through the push
// route, as a feature pipeline would, until it answers 200: a write on a
// busy machine may miss the features' Redis timeout, and just after a
// Redis restart the gateway may not have reconnected yet.
func (e *env) seedUntil(token string, within time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(within)
	body := `{"view":"stats","rows":[` + seedRows() + `]}`
	for {
		st, _, resp := e.do(0, "POST", "/v1/push", token, body)
		if st == 200 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("seeding stats after %s: %d %s", within, st, resp)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func seedRows() string {
	var rows []string
	for u := range warmUsers {
		rows = append(rows, fmt.Sprintf(`{"entity":{"user_id":"u%d"},"values":{"clicks":%d,"ctr":0.%d}}`, u, 10+u, u+1))
	}
	return strings.Join(rows, ",")
}
