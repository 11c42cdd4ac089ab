package features

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestServePush(t *testing.T) {
	s, err := New(churnRegistry("memory"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	// The event time comes from the clock: a fixed date falls outside the
	// view's max_age once the calendar passes it.
	ts := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	out, err := s.ServePush(ctx, []byte(`{"view":"user_stats","rows":[{"entity":{"user_id":"u5"},"values":{"clicks_7d":77,"country":"NZ"},"event_timestamp":"`+ts+`"}]}`), nil)
	if err != nil || string(out) != "{\"view\":\"user_stats\",\"rows\":1}\n" {
		t.Fatalf("push: %s %v", out, err)
	}
	got, err := s.ServeNative(ctx, []byte(`{"features":["user_stats:clicks_7d","user_stats:country"],"entities":[{"user_id":"u5"}]}`), nil)
	if err != nil || !strings.Contains(string(got), "77") || !strings.Contains(string(got), `"NZ"`) || strings.Count(string(got), "PRESENT") != 2 {
		t.Fatalf("read your write: %s %v", got, err)
	}
	f := func(body, wantCode, wantMsg string) {
		t.Helper()
		_, err := s.ServePush(ctx, []byte(body), nil)
		e, ok := err.(*Error)
		if !ok || (wantCode != "" && e.Code != wantCode) || !strings.Contains(e.Message, wantMsg) {
			t.Fatalf("%s: got %v, want %s containing %q", body, err, wantCode, wantMsg)
		}
	}
	f(`{`, "bad_json", "cannot decode")
	f(`{"rows":[]}`, "missing_view", "view")
	f(`{"view":"user_stats","rows":[],"extra":1}`, "bad_json", "unknown field")
	f(`{"view":"nope","rows":[{"entity":{"user_id":"u1"},"values":{}}]}`, "unknown_view", "nope")
	f(`{"view":"user_stats","rows":[{"entity":{"user_id":[1]},"values":{}}]}`, "bad_rows", "rows[0].entity.user_id")
	f(`{"view":"user_stats","rows":[{"entity":{"user_id":"u1"},"values":{"clicks_7d":"many"}}]}`, "", "clicks_7d")
	f(`{"view":"user_stats","rows":[{"entity":{"user_id":"u1"},"values":{"nope":1}}]}`, "", "nope")
	f(`{"view":"user_stats","rows":[{"entity":{"user_id":"u1"},"values":{},"event_timestamp":"yesterday"}]}`, "bad_rows", "event_timestamp")
}

func FuzzParsePush(f *testing.F) {
	f.Add([]byte(`{"view":"user_stats","rows":[{"entity":{"user_id":"u1"},"values":{"clicks_7d":1}}]}`))
	f.Add([]byte(`{"view":"v","rows":[{"entity":{"id":12},"event_timestamp":"2026-01-01T00:00:00Z"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		view, rows, err := ParsePush(body)
		if err != nil {
			if KindOf(err) != BadRequest {
				t.Fatalf("parse error of kind %v: %v", KindOf(err), err)
			}
			return
		}
		if view == "" {
			t.Fatalf("accepted a push without a view: %q", body)
		}
		for _, r := range rows {
			if r.Entity == nil || r.Values == nil {
				t.Fatalf("nil maps in %+v", r)
			}
		}
	})
}
