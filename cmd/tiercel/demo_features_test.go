package main

import (
	"strings"
	"testing"
)

// TestDemoServesFeatures starts the embedded demo in process and calls the
// four feature endpoints with a default `tiercel token`.
func TestDemoServesFeatures(t *testing.T) {
	srv, tok := startDemo(t)
	post := func(path, token, body string) (int, string) {
		t.Helper()
		return request(t, "POST", "http://"+srv.Addr()+path, token, body)
	}
	f := func(path, body string, want ...string) {
		t.Helper()
		code, got := post(path, tok, body)
		if code != 200 {
			t.Fatalf("POST %s: %d %s", path, code, got)
		}
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("POST %s: %s lacks %s", path, got, w)
			}
		}
	}
	// The demo rows are seeded at start: u1000 is there, u1001 is not.
	f("/v1/features", `{"features":["user_stats:clicks_7d","user_stats:embedding"],"entities":[{"user_id":"u1000"},{"user_id":"u1001"}]}`,
		`"statuses":["PRESENT","PRESENT"]`, `"statuses":["DEFAULT","NOT_FOUND"]`)
	f("/get-online-features", `{"feature_service":"churn_inputs","entities":{"user_id":["u1","u2"]}}`,
		`"feature_names":["user_id","clicks_7d","ctr_7d","is_premium","embedding"]`)
	f("/v1/push", `{"view":"user_stats","rows":[{"entity":{"user_id":"u1"},"values":{"clicks_7d":42}}]}`, `"rows":1`)
	f("/v1/features", `{"features":["user_stats:clicks_7d"],"entities":[{"user_id":"u1"}]}`, `"values":[42]`)
	f("/v1/models/churn/predict", `{"entities":[{"user_id":"u1"}]}`, `"model":"churn"`, `"source":"model"`)
	if code, _ := post("/v1/push", tok[:len(tok)-2]+"xx", `{}`); code != 401 {
		t.Errorf("forged token on /v1/push: %d", code)
	}
}
