package main

import (
	"strings"
	"testing"
	"time"

	"github.com/tiercel/tiercel/internal/testwait"
)

// TestDemoServesOIP: the embedded demo's OIP routes answer an OIP client
// with a default `tiercel token`, and the OIP endpoint and /v1 predict
// share the prediction cache (one key: model@version and the input vector).
func TestDemoServesOIP(t *testing.T) {
	srv, tok := startDemo(t)
	base := "http://" + srv.Addr()
	for path, want := range map[string]string{"/v2/health/live": `"live":true`, "/v2/health/ready": `"ready":true`,
		"/v2": `"name":"tiercel"`, "/v2/models/churn/versions/1": `"shape":[-1,11]`, "/v2/models/churn/ready": `"ready":true`} {
		if code, got := request(t, "GET", base+path, tok, ""); code != 200 || !strings.Contains(got, want) {
			t.Errorf("GET %s: %d %s, want %s", path, code, got, want)
		}
	}
	vec := `[1,0.5,0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8]`
	if code, got := request(t, "POST", base+"/v1/models/churn/predict", tok, `{"inputs":[`+vec+`]}`); code != 200 || !strings.Contains(got, `"source":"model"`) {
		t.Fatalf("predict: %d %s", code, got)
	}
	// The cache's L1 write is asynchronous: poll, with a deadline.
	testwait.For(t, 5*time.Second, "infer to answer predict's cached prediction", func() bool {
		code, got := request(t, "POST", base+"/v2/models/churn/infer", tok, `{"id":"1","inputs":[{"name":"input-0","shape":[1,11],"datatype":"FP64","data":`+vec+`}]}`)
		if code != 200 || !strings.Contains(got, `"id":"1"`) {
			t.Fatalf("infer: %d %s", code, got)
		}
		return strings.Contains(got, `"tiercel_source":"cache"`)
	})
}
