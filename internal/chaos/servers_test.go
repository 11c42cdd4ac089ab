package chaos

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
)

// The dependencies the gateway is put in front of: small real HTTP servers
// on loopback ports. Each can be told to answer 500 (the "5xx" faults);
// hangs, slowness and resets are the fault proxy's job, in front of them.

// serve runs h on a free loopback port until the test ends and returns its
// host:port.
func serve(t testing.TB, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("cannot listen: %v", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			_ = srv.Close()
		}
		<-done
	})
	return ln.Addr().String()
}

// failing makes a server answer 500 while set.
type failing struct{ on atomic.Bool }

func (f *failing) fail(w http.ResponseWriter) bool {
	if !f.on.Load() {
		return false
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = w.Write([]byte(`{"error":"injected failure"}`))
	return true
}

// origin is an API upstream: every path answers a small JSON document.
type origin struct {
	failing
	name string
}

func (o *origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if o.fail(w) {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"path":%q,"origin":%q}`, r.URL.Path, o.name)
}

// featureServer speaks Feast's /get-online-features for view "profile":
// every user exists, with a score derived from its id (so cold users have
// distinct model inputs) and a segment.
type featureServer struct{ failing }

func (f *featureServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.fail(w) {
		return
	}
	var req struct {
		Features []string            `json:"features"`
		Entities map[string][]string `json:"entities"`
	}
	if r.URL.Path != "/get-online-features" || json.NewDecoder(r.Body).Decode(&req) != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	ids := req.Entities["user_id"]
	now := time.Now().UTC().Format(time.RFC3339Nano)
	col := func(values []any) map[string]any {
		st, ts := make([]string, len(values)), make([]string, len(values))
		for i := range values {
			st[i], ts[i] = "PRESENT", now
		}
		return map[string]any{"values": values, "statuses": st, "event_timestamps": ts}
	}
	names := []string{"user_id"}
	idCol := make([]any, len(ids))
	for i, id := range ids {
		idCol[i] = id
	}
	results := []any{col(idCol)}
	for _, ref := range req.Features {
		name := ref[strings.IndexByte(ref, ':')+1:]
		vals := make([]any, len(ids))
		for i, id := range ids {
			switch name {
			case "score":
				vals[i] = score(id)
			default:
				vals[i] = "seg-" + id[len(id)-1:]
			}
		}
		names = append(names, name)
		results = append(results, col(vals))
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"metadata": map[string]any{"feature_names": names}, "results": results})
}

// score is a user's deterministic profile score in [0, 1).
func score(id string) float64 {
	h := fnv.New32a()
	h.Write([]byte(id))
	return float64(h.Sum32()%1000) / 1000
}

// modelServer answers Open Inference Protocol v2 infer requests: one FP64
// output per input row.
type modelServer struct{ failing }

func (m *modelServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if m.fail(w) {
		return
	}
	var req struct {
		Inputs []struct {
			Shape []int     `json:"shape"`
			Data  []float64 `json:"data"`
		} `json:"inputs"`
	}
	if !strings.HasSuffix(r.URL.Path, "/infer") || json.NewDecoder(r.Body).Decode(&req) != nil ||
		len(req.Inputs) != 1 || len(req.Inputs[0].Shape) != 2 {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	in := req.Inputs[0]
	rows, width := in.Shape[0], in.Shape[1]
	if rows*width != len(in.Data) {
		http.Error(w, "shape mismatch", http.StatusBadRequest)
		return
	}
	out := make([]float64, rows)
	for i := range out {
		y := 0.1
		for _, x := range in.Data[i*width : (i+1)*width] {
			y += 0.01 * x
		}
		out[i] = y
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"model_name": "churn", "outputs": []any{
		map[string]any{"name": "p", "shape": []int{rows}, "datatype": "FP64", "data": out}}})
}

// jwksServer publishes the public half of the issuer's signing key.
type jwksServer struct {
	body []byte
}

func newJWKSServer(t testing.TB, kid string, key *rsa.PrivateKey) *jwksServer {
	t.Helper()
	jwk, err := jwkset.NewJWKFromKey(&key.PublicKey, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{
		KID: kid, USE: jwkset.UseSig, ALG: jwkset.AlgRS256}})
	if err != nil {
		t.Fatalf("cannot make the JWK: %v", err)
	}
	body, err := json.Marshal(jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{jwk.Marshal()}})
	if err != nil {
		t.Fatal(err)
	}
	return &jwksServer{body: body}
}

func (j *jwksServer) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(j.body)
}
