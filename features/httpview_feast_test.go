package features

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// goFeastServer answers /get-online-features as Feast's Go feature server
// does (go/internal/feast/server/http_server.go, getOnlineFeatures): the
// entity column first, then the features; statuses and event_timestamps
// (RFC 3339, whole seconds) only when the query says status=true, which
// strconv.ParseBool reads (400 {"error","status_code"} when it cannot); a
// value older than the view's ttl keeps its value with OUTSIDE_MAX_AGE
// (go/internal/feast/onlineserving/serving.go); a missing one is null,
// NOT_FOUND, with the zero timestamp. When token is set, it answers 401
// to calls without "Authorization: Bearer <token>".
type goFeastServer struct {
	*httptest.Server
	token string
	// dropQuery ignores the query, as a proxy in between that drops it.
	dropQuery bool
	mu        sync.Mutex
	auths     []string // Authorization of every call
	query     []string // raw query of every call
}

// goRows: item 1 fresh, item 2 older than the upstream's ttl, others
// missing. Event times in Unix seconds.
var goRows = map[int64]struct {
	score float64
	ts    int64
	old   bool
}{1: {0.5, 1_700_000_000 - 600, false}, 2: {0.25, 1_600_000_000, true}}

func newGoFeastServer(t testing.TB, token string) *goFeastServer {
	g := &goFeastServer{token: token}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		g.auths = append(g.auths, r.Header.Get("Authorization"))
		g.query = append(g.query, r.URL.RawQuery)
		g.mu.Unlock()
		if g.token != "" && r.Header.Get("Authorization") != "Bearer "+g.token {
			writeGoError(w, fmt.Errorf("unauthenticated"), http.StatusUnauthorized)
			return
		}
		status := false
		if q := r.URL.Query().Get("status"); q != "" && !g.dropQuery {
			var err error
			if status, err = strconv.ParseBool(q); err != nil {
				writeGoError(w, fmt.Errorf("Error parsing status query parameter: %+v", err), http.StatusBadRequest)
				return
			}
		}
		var req struct {
			Features []string           `json:"features"`
			Entities map[string][]int64 `json:"entities"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			writeGoError(w, fmt.Errorf("Error decoding JSON request data: %+v", err), http.StatusInternalServerError)
			return
		}
		ids := req.Entities["item_id"]
		vals, st, ts := []any{}, []string{}, []string{}
		for _, id := range ids {
			row, ok := goRows[id]
			switch {
			case !ok:
				vals, st, ts = append(vals, nil), append(st, "NOT_FOUND"), append(ts, time.Unix(0, 0).UTC().Format(time.RFC3339))
			case row.old:
				vals, st, ts = append(vals, row.score), append(st, "OUTSIDE_MAX_AGE"), append(ts, time.Unix(row.ts, 0).UTC().Format(time.RFC3339))
			default:
				vals, st, ts = append(vals, row.score), append(st, "PRESENT"), append(ts, time.Unix(row.ts, 0).UTC().Format(time.RFC3339))
			}
		}
		entity := map[string]any{"values": ids}
		feature := map[string]any{"values": vals}
		if status {
			entity["statuses"], entity["event_timestamps"] = repeat("PRESENT", len(ids)), repeat(time.Unix(0, 0).UTC().Format(time.RFC3339), len(ids))
			feature["statuses"], feature["event_timestamps"] = st, ts
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"metadata": map[string]any{"feature_names": []string{"item_id", "score"}},
			"results":  []any{entity, feature},
		})
	}))
	t.Cleanup(g.Close)
	return g
}

func writeGoError(w http.ResponseWriter, err error, code int) {
	b, _ := json.Marshal(map[string]any{"error": fmt.Sprintf("%+v", err), "status_code": code})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

func (g *goFeastServer) calls() (auths, queries []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.auths...), append([]string(nil), g.query...)
}

// goRegistry is a view over a goFeastServer with a max age of its own.
func goRegistry(url string, maxAge time.Duration, auth UpstreamAuth) Config {
	cfg := testRegistry()
	cfg.Views = append(cfg.Views, ViewConfig{Name: "go_scores", Entities: []string{"item"}, MaxAge: maxAge,
		Features: []FeatureConfig{{Name: "score", Type: "float64"}},
		Source: SourceConfig{Type: "http", URL: url + "/get-online-features", UpstreamView: "remote",
			Timeout: 2 * time.Second, TTL: time.Minute, Auth: auth}})
	return cfg
}

// TestHTTPViewFeastGoServer: the view asks Feast's Go server for statuses
// and keeps them. A present row within the view's max age is PRESENT, the
// upstream's OUTSIDE_MAX_AGE stays OUTSIDE_MAX_AGE (not NOT_FOUND), a
// missing row NOT_FOUND.
func TestHTTPViewFeastGoServer(t *testing.T) {
	g := newGoFeastServer(t, "")
	e := newEnv(t, goRegistry(g.URL, time.Hour, UpstreamAuth{}))
	res := mustGet(t, e.s, mustQuery(t, e.s, []string{"go_scores:score"}, []string{"item_id"}, [][]string{{"1"}, {"2"}, {"3"}}))
	want := []struct {
		v  string
		st Status
		ts int64
	}{{"0.5", StatusPresent, (1_700_000_000 - 600) * 1e9}, {"", StatusOutsideMaxAge, 1_600_000_000 * 1e9}, {"", StatusNotFound, 0}}
	for i, w := range want {
		c := res.Cell(i, 0)
		if string(c.Value) != w.v || c.Status != w.st || c.EventTime != w.ts {
			t.Errorf("item %d = %s %v at %d, want %s %v at %d", i+1, c.Value, c.Status, c.EventTime, w.v, w.st, w.ts)
		}
	}
	if res.Incomplete {
		t.Error("incomplete")
	}
	// The upstream's value of an OUTSIDE_MAX_AGE row is kept, for the Feast
	// endpoint to answer as Feast does (Cell.Old).
	if old := string(res.Cell(1, 0).Old); old != "0.25" {
		t.Errorf("item 2 kept %q, want the upstream's 0.25", old)
	}
	if _, qs := g.calls(); len(qs) != 1 || qs[0] != "status=true" {
		t.Errorf("upstream queries %q, want one with status=true", qs)
	}
}

// TestHTTPViewMissingTimestampIsUnknown: an answer of values only (Feast's
// Go server when the query does not reach it, here dropped as a proxy in
// between might) gives rows of unknown age: PRESENT even under a max age,
// the epoch as event time (what Feast reports for none), not
// OUTSIDE_MAX_AGE.
func TestHTTPViewMissingTimestampIsUnknown(t *testing.T) {
	g := newGoFeastServer(t, "")
	g.dropQuery = true
	e := newEnv(t, goRegistry(g.URL, time.Hour, UpstreamAuth{}))
	res := mustGet(t, e.s, mustQuery(t, e.s, []string{"go_scores:score"}, []string{"item_id"}, [][]string{{"1"}, {"2"}, {"3"}}))
	want := []struct {
		v  string
		st Status
	}{{"0.5", StatusPresent}, {"0.25", StatusPresent}, {"", StatusNotFound}}
	for i, w := range want {
		c := res.Cell(i, 0)
		if string(c.Value) != w.v || c.Status != w.st || c.EventTime != 0 {
			t.Errorf("item %d = %s %v at %d, want %s %v at 0", i+1, c.Value, c.Status, c.EventTime, w.v, w.st)
		}
	}
}

// TestHTTPViewAuthorization: a static token (file or environment) is sent
// as a bearer token; forward sends the caller's header as it came, and
// none when the caller had none; without auth nothing is sent.
func TestHTTPViewAuthorization(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TIERCEL_TEST_FEAST_TOKEN", "s3cret")
	f := func(name string, auth UpstreamAuth, callerAuth, want string, st Status) {
		t.Run(name, func(t *testing.T) {
			g := newGoFeastServer(t, "s3cret")
			e := newEnv(t, goRegistry(g.URL, 0, auth))
			ctx := context.Background()
			if callerAuth != "" {
				ctx = WithAuthorization(ctx, callerAuth)
			}
			res, err := e.s.Get(ctx, mustQuery(t, e.s, []string{"go_scores:score"}, []string{"item_id"}, [][]string{{"1"}}))
			if err != nil {
				t.Fatal(err)
			}
			defer res.Release()
			if c := res.Cell(0, 0); c.Status != st {
				t.Errorf("status %v, want %v", c.Status, st)
			}
			if auths, _ := g.calls(); len(auths) != 1 || auths[0] != want {
				t.Errorf("upstream got Authorization %q, want %q", auths, want)
			}
			if got := e.s.ForwardsAuthorization(); got != auth.Forward {
				t.Errorf("ForwardsAuthorization = %v", got)
			}
		})
	}
	f("token_file", UpstreamAuth{TokenFile: file}, "Bearer caller", "Bearer s3cret", StatusPresent)
	f("token_env", UpstreamAuth{TokenEnv: "TIERCEL_TEST_FEAST_TOKEN"}, "", "Bearer s3cret", StatusPresent)
	f("forward", UpstreamAuth{Forward: true}, "Bearer s3cret", "Bearer s3cret", StatusPresent)
	f("forward a wrong token", UpstreamAuth{Forward: true}, "Bearer other", "Bearer other", StatusNotFound)
	f("forward without one", UpstreamAuth{Forward: true}, "", "", StatusNotFound)
	f("none", UpstreamAuth{}, "Bearer caller", "", StatusNotFound)
}

// TestHTTPViewAuthConfig: bad auth blocks refuse the configuration.
func TestHTTPViewAuthConfig(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "absent")
	t.Setenv("TIERCEL_TEST_EMPTY", "")
	f := func(name string, mut func(*SourceConfig), want string) {
		t.Run(name, func(t *testing.T) {
			cfg := goRegistry("http://127.0.0.1:1", 0, UpstreamAuth{})
			mut(&cfg.Views[len(cfg.Views)-1].Source)
			_, err := New(cfg, Options{})
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("err %v, want %q", err, want)
			}
		})
	}
	f("two", func(s *SourceConfig) { s.Auth = UpstreamAuth{TokenEnv: "X", Forward: true} }, "set one of token_file, token_env and forward")
	f("no file", func(s *SourceConfig) { s.Auth = UpstreamAuth{TokenFile: missing} }, "auth.token_file")
	f("empty", func(s *SourceConfig) { s.Auth = UpstreamAuth{TokenEnv: "TIERCEL_TEST_EMPTY"} }, "the token is empty")
	f("not http", func(s *SourceConfig) { s.Type, s.Auth = "memory", UpstreamAuth{Forward: true} }, "only an http source")
}
