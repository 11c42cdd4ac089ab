package gateway

import (
	"strings"
	"testing"
	"time"

	"github.com/tiercel/tiercel/internal/testkafka"
	"github.com/tiercel/tiercel/internal/testwait"
)

// The Feast write endpoints and health, answered as Feast's Python feature
// server (sdk/python/feast/feature_server.py) answers them.

func TestFeastPushAndWrite(t *testing.T) {
	h := newHarness(t, featureRoutes("", ""))
	tok := token(t, featureScopes)
	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	// str(datetime) with a zone, as Feast's examples push: the view "mem"
	// is its own push source (push_source defaults to the view's name).
	push := `{"push_source_name":"mem","df":{"user_id":["u1","u2"],"clicks":[7,null],"country":["JP","FR"],` +
		`"event_timestamp":["` + at.Format("2006-01-02 15:04:05.000000+00:00") + `","` + at.Format(time.RFC3339) + `"],"extra":[1,2]},"to":"online"}`
	r := h.post("/push", tok, push)
	if r.status != 200 || r.body != "null" || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("push: %d %q %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	got := decode[nativeReply](t, h.mustPost("/v1/features", tok, `{"features":["mem:clicks","mem:country"],"entities":[{"user_id":"u1"},{"user_id":"u2"}]}`).body)
	if v := got.Results[0].Values; v[0] != float64(7) || v[1] != "JP" || got.Results[0].TS[1] != at.Format(time.RFC3339) {
		t.Errorf("u1 after the push: %+v", got.Results[0])
	}
	if v := got.Results[1].Values; v[1] != "FR" || got.Results[1].Statuses[1] != "PRESENT" {
		t.Errorf("u2 after the push (null clicks not written): %+v", got.Results[1])
	}
	write := `{"feature_view_name":"mem","df":{"user_id":["u1"],"country":["IS"]},"allow_registry_cache":true}`
	if r := h.post("/write-to-online-store", tok, write); r.status != 200 || r.body != "null" {
		t.Fatalf("write: %d %s", r.status, r.body)
	}
	got = decode[nativeReply](t, h.mustPost("/v1/features", tok, `{"features":["mem:clicks","mem:country"],"entities":[{"user_id":"u1"}]}`).body)
	if v := got.Results[0].Values; v[0] != float64(7) || v[1] != "IS" {
		t.Errorf("u1 after the write: %+v", got.Results[0])
	}
	// A df of null features writes nothing and succeeds, as Feast's does.
	if r := h.post("/push", tok, `{"push_source_name":"mem","df":{"user_id":["u1"],"clicks":[null]}}`); r.status != 200 || r.body != "null" {
		t.Fatalf("null push: %d %s", r.status, r.body)
	}
	if r := h.post("/push", "", push); r.status != 401 {
		t.Errorf("push without a token: %d", r.status)
	}
}

func TestFeastHealth(t *testing.T) {
	h := newHarness(t, featureRoutes("", ""))
	r := h.get("/health", "")
	if r.status != 200 || r.body != "" {
		t.Fatalf("health: %d %q", r.status, r.body)
	}
}

// TestFeastWriteErrors: FastAPI's 422 {"detail": [...]} for what does not
// validate, Feast's exceptions as a JSON string its client turns back into
// the class.
func TestFeastWriteErrors(t *testing.T) {
	h := newHarness(t, featureRoutes("", ""))
	tok := token(t, featureScopes)
	f := func(path, body string, status int, want string) {
		t.Helper()
		r := h.post(path, tok, body)
		if r.status != status || r.body != want || r.header.Get("Content-Type") != "application/json" {
			t.Errorf("POST %s %s:\n got %d %s\nwant %d %s", path, body, r.status, r.body, status, want)
		}
	}
	f("/push", `{"df":{}}`, 422, `{"detail":[{"type":"missing","loc":["body","push_source_name"],"msg":"Field required","input":{"df":{}}}]}`)
	f("/push", `{"push_source_name":3,"df":{}}`, 422, `{"detail":[{"type":"string_type","loc":["body","push_source_name"],"msg":"Input should be a valid string","input":3}]}`)
	f("/push", `{"push_source_name":"mem","df":[]}`, 422, `{"detail":[{"type":"dict_type","loc":["body","df"],"msg":"Input should be a valid dictionary","input":[]}]}`)
	f("/push", `{"push_source_name":"mem","df":{},"allow_registry_cache":"maybe"}`, 422, `{"detail":[{"type":"bool_parsing","loc":["body","allow_registry_cache"],"msg":"Input should be a valid boolean, unable to interpret input","input":"maybe"}]}`)
	f("/push", `{"push_source_name":`, 422, `{"detail":[{"type":"json_invalid","loc":["body",20],"msg":"JSON decode error","input":{}}]}`)
	f("/push", `[1]`, 422, `{"detail":[{"type":"model_attributes_type","loc":["body"],"msg":"Input should be a valid dictionary or object to extract fields from","input":[1]}]}`)
	f("/push", `{"push_source_name":"nope","df":{"user_id":["u1"],"clicks":[1]}}`, 422,
		`"{\"module\": \"feast.errors\", \"class\": \"PushSourceNotFoundException\", \"message\": \"Unable to find push source 'nope'.\"}"`)
	f("/push", `{"push_source_name":"mem","df":{"user_id":["u1"],"clicks":[1]},"to":"offline"}`, 422,
		`{"detail":[{"type":"value_error","loc":["body","to"],"msg":"Value error, offline is not supported by this gateway: it has no offline store. Push with to=online.","input":"offline"}]}`)
	f("/push", `{"push_source_name":"mem","df":{"user_id":["u1"],"clicks":[1]},"to":"sideways"}`, 422,
		`{"detail":[{"type":"value_error","loc":["body","to"],"msg":"Value error, sideways is not a supported push format. Please specify one of these ['online', 'offline', 'online_and_offline'].","input":"sideways"}]}`)
	f("/push", `{"push_source_name":"mem","df":{"user_id":["u1","u2"],"clicks":[1]}}`, 422,
		`{"detail":[{"type":"value_error","loc":["body","df"],"msg":"Value error, All arrays must be of the same length","input":{"user_id":["u1","u2"],"clicks":[1]}}]}`)
	f("/push", `{"push_source_name":"mem","df":{"clicks":[1]}}`, 422,
		`{"detail":[{"type":"value_error","loc":["body","df","user_id"],"msg":"Value error, column user_id (a join key of feature view mem) is missing","input":null}]}`)
	f("/push", `{"push_source_name":"mem","df":{"user_id":["u1"],"clicks":[1],"event_timestamp":["yesterday"]}}`, 422,
		`{"detail":[{"type":"value_error","loc":["body","df","event_timestamp",0],"msg":"Value error, cannot read \"yesterday\" as a date and time","input":"yesterday"}]}`)
	f("/push", `{"push_source_name":"mem","df":{"user_id":["u1"],"clicks":["many"]}}`, 422,
		`{"detail":[{"type":"value_error","loc":["body","df"],"msg":"Value error, rows[0].values.clicks: want int64, got a string","input":null}]}`)
	f("/write-to-online-store", `{"feature_view_name":"nope","df":{"user_id":["u1"]}}`, 404,
		`"{\"module\": \"feast.errors\", \"class\": \"FeatureViewNotFoundException\", \"message\": \"Feature view nope does not exist\"}"`)
	f("/write-to-online-store", `{"df":{}}`, 422, `{"detail":[{"type":"missing","loc":["body","feature_view_name"],"msg":"Field required","input":{"df":{}}}]}`)
	if r := h.post("/push", token(t, jwtClaims("features:read")), `{}`); r.status != 403 || !strings.Contains(r.body, "insufficient_scope") {
		t.Errorf("push without features:write: %d %s", r.status, r.body)
	}
}

// TestFeastPushReachesEveryReplica: a push through replica A (Feast's
// /push and /write-to-online-store, and the native /v1/push) drops the
// rows from B's L1 too, through Kafka, without an event of the writer's
// own.
func TestFeastPushReachesEveryReplica(t *testing.T) {
	onEachRedis(t, testFeastPushReachesEveryReplica)
}

func testFeastPushReachesEveryReplica(t *testing.T, rs *sharedRedis) {
	kf := testkafka.Start(t, testkafka.Topic(testTopic, 2))
	mk := func() *harness {
		return newHarness(t, rs.use(func(c *Config) {
			featureRoutes("", "")(c)
			c.Kafka = kafkaConfig(kf.Addr())
			c.Features.RowTTL = time.Minute // longer than the waits: only the event can drop B's copy
		}))
	}
	a, b := mk(), mk()
	waitKafkaReady(t, a, b)
	tok := token(t, jwtClaims("features:read features:write"))
	read := func(h *harness) string {
		return h.mustPost("/v1/features", tok, `{"features":["rv:clicks"],"entities":[{"user_id":"u7"}]}`).body
	}
	write := func(path, body string) {
		t.Helper()
		want := "null"
		if path == "/v1/push" {
			want = `{"view":"rv","rows":1}` + "\n"
		}
		if r := a.post(path, tok, body); r.status != 200 || r.body != want {
			t.Fatalf("%s: %d %s", path, r.status, r.body)
		}
	}
	write("/push", `{"push_source_name":"rv","df":{"user_id":["u7"],"clicks":[1]}}`)
	for name, h := range map[string]*harness{"A": a, "B": b} {
		if r := read(h); !strings.Contains(r, `"values":[1]`) {
			t.Fatalf("%s before the second push: %s", name, r)
		}
	}
	b.srv.current().features.Wait() // B's copy is in its L1: the event must drop it
	write("/push", `{"push_source_name":"rv","df":{"user_id":["u7"],"clicks":[2]}}`)
	testwait.For(t, 10*time.Second, "B to drop its copy and read the pushed value", func() bool {
		return strings.Contains(read(b), `"values":[2]`)
	})
	write("/write-to-online-store", `{"feature_view_name":"rv","df":{"user_id":["u7"],"clicks":[3]}}`)
	testwait.For(t, 10*time.Second, "B to read the written value", func() bool {
		return strings.Contains(read(b), `"values":[3]`)
	})
	write("/v1/push", `{"view":"rv","rows":[{"entity":{"user_id":"u7"},"values":{"clicks":4}}]}`)
	testwait.For(t, 10*time.Second, "B to read the natively pushed value", func() bool {
		return strings.Contains(read(b), `"values":[4]`)
	})
}
