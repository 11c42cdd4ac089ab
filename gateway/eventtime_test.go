package gateway

import (
	"strings"
	"testing"
)

// Event times keep what was pushed, to the nanosecond, and come back in
// protobuf's JSON form of a Timestamp (0, 3, 6 or 9 fraction digits, Z),
// as Feast's Python server answers them, on both read endpoints.
func TestEventTimesKeepSubMilliseconds(t *testing.T) {
	h := newHarness(t, featureRoutes("", ""))
	tok := token(t, featureScopes)
	// str(pandas.Timestamp) with microseconds, and an integer: pandas'
	// nanoseconds since the epoch.
	push := `{"push_source_name":"mem","df":{"user_id":["u1","u2"],"clicks":[7,8],` +
		`"event_timestamp":["2022-05-13 10:59:42.123456+00:00",1652439582123456789]}}`
	if r := h.post("/push", tok, push); r.status != 200 {
		t.Fatalf("push: %d %s", r.status, r.body)
	}
	if r := h.post("/v1/push", tok, `{"view":"mem","rows":[{"entity":{"user_id":"u3"},"values":{"clicks":9},`+
		`"event_timestamp":"2022-05-13T12:59:42.000000001+02:00"}]}`); r.status != 200 {
		t.Fatalf("/v1/push: %d %s", r.status, r.body)
	}
	want := `"2022-05-13T10:59:42.123456Z","2022-05-13T10:59:42.123456789Z","2022-05-13T10:59:42.000000001Z"`
	feast := h.mustPost("/get-online-features", tok, `{"features":["mem:clicks"],"entities":{"user_id":["u1","u2","u3"]}}`).body
	if !strings.Contains(feast, `"event_timestamps":[`+want+`]`) {
		t.Errorf("/get-online-features: %s\nwant event_timestamps [%s]", feast, want)
	}
	native := decode[nativeReply](t, h.mustPost("/v1/features", tok,
		`{"features":["mem:clicks"],"entities":[{"user_id":"u1"},{"user_id":"u2"},{"user_id":"u3"}]}`).body)
	for i, w := range strings.Split(want, ",") {
		if got := `"` + native.Results[i].TS[0] + `"`; got != w {
			t.Errorf("/v1/features row %d: %s, want %s", i, got, w)
		}
	}
	// A time no int64 of nanoseconds holds is refused, not wrapped.
	if r := h.post("/v1/push", tok, `{"view":"mem","rows":[{"entity":{"user_id":"u4"},"values":{"clicks":1},`+
		`"event_timestamp":"2300-01-01T00:00:00Z"}]}`); r.status != 400 || !strings.Contains(r.body, "outside the range of event times") {
		t.Errorf("/v1/push in 2300: %d %s", r.status, r.body)
	}
	if r := h.post("/push", tok, `{"push_source_name":"mem","df":{"user_id":["u4"],"clicks":[1],`+
		`"event_timestamp":["2300-01-01 00:00:00+00:00"]}}`); r.status != 422 || !strings.Contains(r.body, "outside the range of event times") {
		t.Errorf("/push in 2300: %d %s", r.status, r.body)
	}
}
