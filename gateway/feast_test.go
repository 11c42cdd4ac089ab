package gateway

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tiercel/tiercel/features"
)

// feastRoutes is featureRoutes plus what Feast's edge cases need: a view
// "stats" whose feature clicks collides with mem:clicks, and a float
// feature; an int64-keyed view "drv"; a feature service "svc". feastDefaults
// opts mem into answering its defaults on the Feast endpoint.
func feastRoutes(feastDefaults bool) func(*Config) {
	return func(c *Config) {
		featureRoutes("", "")(c)
		fc := &c.Features
		fc.Views[0].FeastDefaults = feastDefaults
		fc.Entities = append(fc.Entities, features.EntityConfig{Name: "driver",
			JoinKeys: []features.JoinKeyConfig{{Name: "driver_id", Type: "int64"}}})
		fc.Views = append(fc.Views,
			features.ViewConfig{Name: "stats", Entities: []string{"user"}, Source: features.SourceConfig{Type: "memory"},
				Features: []features.FeatureConfig{{Name: "clicks", Type: "int64"}, {Name: "rate", Type: "float64"}}},
			features.ViewConfig{Name: "drv", Entities: []string{"driver"}, Source: features.SourceConfig{Type: "memory"},
				Features: []features.FeatureConfig{{Name: "conv_rate", Type: "float64"}}})
		fc.Services = append(fc.Services, features.FeatureServiceConfig{Name: "svc", Features: []string{"mem:country", "mem:clicks"}})
	}
}

// feastPush writes the rows the Feast tests read: u1 fresh, u2 older than
// mem's max age (1h), u3 absent; driver 1001.
func feastPush(h *harness, tok string) {
	h.t.Helper()
	old := time.Now().Add(-2 * time.Hour).UTC().Format(time.RFC3339)
	h.mustPost("/v1/push", tok, `{"view":"mem","rows":[
		{"entity":{"user_id":"u1"},"values":{"clicks":7,"country":"FR","emb":[1,-2.5]}},
		{"entity":{"user_id":"u2"},"values":{"clicks":3,"country":"DE"},"event_timestamp":"`+old+`"}]}`)
	h.mustPost("/v1/push", tok, `{"view":"stats","rows":[{"entity":{"user_id":"u1"},"values":{"clicks":1,"rate":2}}]}`)
	h.mustPost("/v1/push", tok, `{"view":"drv","rows":[{"entity":{"driver_id":1001},"values":{"conv_rate":1}}]}`)
}

// TestFeastMissingAndTooOld: Feast answers a missing entity null +
// NOT_FOUND, whatever default the feature declares, and keeps a row older
// than max age with OUTSIDE_MAX_AGE (Feast's Go server); defaults only
// where the view opts in. The native endpoint is unchanged.
func TestFeastMissingAndTooOld(t *testing.T) {
	f := func(feastDefaults bool, wantClicks string) {
		t.Helper()
		h := newHarness(t, feastRoutes(feastDefaults))
		tok := token(t, featureScopes)
		feastPush(h, tok)
		r := h.mustPost("/get-online-features", tok,
			`{"features":["mem:clicks","mem:country"],"entities":{"user_id":["u1","u2","u3"]}}`)
		got := decode[feastReply](t, r.body)
		clicks, _ := json.Marshal(got.Results[1].Values)
		if string(clicks) != wantClicks {
			t.Errorf("feast_defaults %v: clicks %s, want %s", feastDefaults, clicks, wantClicks)
		}
		if s := strings.Join(got.Results[1].Statuses, ","); s != "PRESENT,OUTSIDE_MAX_AGE,NOT_FOUND" {
			t.Errorf("clicks statuses %q", s)
		}
		country, _ := json.Marshal(got.Results[2].Values)
		if string(country) != `["FR","DE",null]` {
			t.Errorf("country %s", country)
		}
		n := decode[nativeReply](t, h.mustPost("/v1/features", tok,
			`{"features":["mem:clicks","mem:country"],"entities":[{"user_id":"u2"},{"user_id":"u3"}]}`).body)
		if v, _ := json.Marshal([]any{n.Results[0].Values, n.Results[1].Values}); string(v) != `[[0,null],[0,null]]` {
			t.Errorf("native values %s", v)
		}
	}
	f(false, `[7,3,null]`)
	f(true, `[7,0,0]`)
}

// TestFeastFeatureServiceAndFeatures: Feast's Go server combines the two;
// a ref in both is one column.
func TestFeastFeatureServiceAndFeatures(t *testing.T) {
	h := newHarness(t, feastRoutes(false))
	tok := token(t, featureScopes)
	feastPush(h, tok)
	r := h.mustPost("/get-online-features", tok,
		`{"features":["mem:clicks","stats:rate"],"feature_service":"svc","entities":{"user_id":["u1"]}}`)
	got := decode[feastReply](t, r.body)
	if names := strings.Join(got.Metadata.FeatureNames, ","); names != "user_id,clicks,rate,country" {
		t.Errorf("feature_names %q", names)
	}
}

// TestFeastEncodings: whole floats keep a fraction, int64 join keys given
// as strings are converted as Feast's Python server does (int(x)).
func TestFeastEncodings(t *testing.T) {
	h := newHarness(t, feastRoutes(false))
	tok := token(t, featureScopes)
	feastPush(h, tok)
	r := h.mustPost("/get-online-features", tok, `{"features":["mem:emb","stats:rate"],"entities":{"user_id":["u1"]}}`)
	for _, want := range []string{`"values":[[1.0,-2.5]]`, `"values":[2.0]`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("reply %s lacks %s", r.body, want)
		}
	}
	// int(x) of each (feast-dev/feast sdk/python/feast/type_map.py,
	// PYTHON_SCALAR_VALUE_TYPE_TO_PROTO_VALUE[ValueType.INT64]): a
	// string with whitespace, a sign or underscores, a float truncated, a
	// bool.
	r = h.mustPost("/get-online-features", tok, `{"features":["drv:conv_rate"],"entities":{"driver_id":["1001",1001," +1_001 ",1001.7,true]}}`)
	if !strings.Contains(r.body, `{"values":[1001,1001,1001,1001,1],`) ||
		!strings.Contains(r.body, `{"values":[1.0,1.0,1.0,1.0,null],"statuses":["PRESENT","PRESENT","PRESENT","PRESENT","NOT_FOUND"]`) {
		t.Errorf("int64 key as a string: %s", r.body)
	}
}

// TestFeastErrors: Feast's error shapes on the Feast endpoint, the
// gateway's elsewhere and for auth.
func TestFeastErrors(t *testing.T) {
	h := newHarness(t, feastRoutes(false))
	tok := token(t, featureScopes)
	// A FeastError: its status, and to_error_detail() as a JSON string.
	fe := func(body string, status int, class, message string) {
		t.Helper()
		r := h.post("/get-online-features", tok, body)
		var detail string
		if err := json.Unmarshal([]byte(r.body), &detail); r.status != status || err != nil {
			t.Fatalf("%s: %d %s, want %d and a JSON string", body, r.status, r.body, status)
		}
		var m map[string]string
		if err := json.Unmarshal([]byte(detail), &m); err != nil || m["module"] != "feast.errors" || m["class"] != class || m["message"] != message {
			t.Errorf("%s: detail %q, want %s %q", body, detail, class, message)
		}
		if !strings.HasPrefix(detail, `{"module": "feast.errors", "class": "`) {
			t.Errorf("detail %q is not json.dumps' spelling", detail)
		}
	}
	fe(`{"features":["nope:x"],"entities":{"user_id":["u1"]}}`, 404, "FeatureViewNotFoundException", "Feature view nope does not exist")
	fe(`{"feature_service":"nope","entities":{"user_id":["u1"]}}`, 404, "FeatureServiceNotFoundException", "Feature service nope does not exist")
	fe(`{"features":["mem:clicks"],"entities":{"shoe":["u1"]}}`, 404, "EntityNotFoundException", "Entity shoe does not exist")
	fe(`{"features":["mem:clicks","stats:clicks"],"entities":{"user_id":["u1"]}}`, 500, "FeatureNameCollisionError",
		"Duplicate features named clicks found.\nTo resolve this collision, either use the full feature name by setting "+
			"'full_feature_names=True', or ensure that the features in question have different names.")
	// With full names the same two refs are two columns.
	h.mustPost("/get-online-features", tok, `{"features":["mem:clicks","stats:clicks"],"entities":{"user_id":["u1"]},"full_feature_names":true}`)

	raw := func(body string, status int, want string) {
		t.Helper()
		r := h.post("/get-online-features", tok, body)
		if r.status != status || r.body != want {
			t.Errorf("%s: %d %s, want %d %s", body, r.status, r.body, status, want)
		}
	}
	// A KeyError is no FeastError: 500 and str(exc) as a JSON string.
	raw(`{"features":["mem:nope"],"entities":{"user_id":["u1"]}}`, 500, `"'Feature nope not found in projection mem'"`)
	raw(`{"features":["mem:clicks"]}`, 422, `{"detail":[{"type":"missing","loc":["body","entities"],"msg":"Field required","input":null}]}`)
	r := h.post("/get-online-features", tok, `[1,2]`)
	if !strings.HasPrefix(r.body, `{"detail":[{"type":"json_invalid","loc":["body",0]`) || r.status != 422 {
		t.Errorf("bad JSON: %d %s", r.status, r.body)
	}
	// Python's own exceptions are no FeastErrors either: 500, str(exc).
	// type_map.py converts an int64 key with int(x), which raises
	// ValueError (feast-dev/feast sdk/python/feast/type_map.py,
	// PYTHON_SCALAR_VALUE_TYPE_TO_PROTO_VALUE); _validate_entity_values
	// (sdk/python/feast/utils.py) raises one for columns of two lengths.
	raw(`{"features":["drv:conv_rate"],"entities":{"driver_id":["x"]}}`, 500, `"invalid literal for int() with base 10: 'x'"`)
	raw(`{"features":["drv:conv_rate"],"entities":{"driver_id":[[1]]}}`, 500,
		`"int() argument must be a string, a bytes-like object or a real number, not 'list'"`)
	raw(`{"features":["mem:clicks"],"entities":{"user_id":["u1","u2"],"driver_id":[1]}}`, 500, `"All entity rows must have the same columns."`)
	// Feast's order: conversions, then lengths, then unknown columns
	// (utils._prepare_entities_to_read_from_online_store); collisions
	// before unknown views (utils._get_online_request_context).
	raw(`{"features":["mem:clicks"],"entities":{"shoe":["u1","u2"],"driver_id":[1]}}`, 500, `"All entity rows must have the same columns."`)
	raw(`{"features":["mem:clicks"],"entities":{"shoe":["u1"],"driver_id":["y"]}}`, 500, `"invalid literal for int() with base 10: 'y'"`)
	fe(`{"features":["nope:clicks","mem:clicks"],"entities":{"user_id":["u1"]}}`, 500, "FeatureNameCollisionError",
		"Duplicate features named clicks found.\nTo resolve this collision, either use the full feature name by setting "+
			"'full_feature_names=True', or ensure that the features in question have different names.")
	// Auth stays the gateway's shape.
	if r := h.post("/get-online-features", "", `{}`); r.status != 401 || r.err.Code == "" {
		t.Errorf("no token: %d %s", r.status, r.body)
	}
	// The native endpoint keeps the gateway's shape.
	if r := h.post("/v1/features", tok, `{"features":["nope:x"],"entities":[{"user_id":"u1"}]}`); r.status != 400 || r.err.Code != "unknown_features" {
		t.Errorf("native: %d %s", r.status, r.body)
	}
}

// TestFeastPythonClient runs testdata/feast_client.py, a stdlib-only
// Python client written from Feast's Python SDK (OnlineResponse.to_dict,
// FeastError.from_error_detail): what a Feast client sees through the
// gateway.
func TestFeastPythonClient(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	h := newHarness(t, feastRoutes(false))
	tok := token(t, featureScopes)
	feastPush(h, tok)
	out, err := exec.Command(py, "testdata/feast_client.py", h.base, tok).CombinedOutput()
	if err != nil {
		t.Fatalf("feast_client.py: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
