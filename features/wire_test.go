package features

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func TestNativeRoundTrip(t *testing.T) {
	e := newEnv(t, testRegistry())
	pushUser(t, e, "u1", e.clk.Now())
	body := `{"features":["user_stats:clicks_7d","user_stats:country","user_stats:embedding"],"entities":[{"user_id":"u1"},{"user_id":"u\u00e9"}]}`
	out, err := e.s.ServeNative(context.Background(), []byte(body), nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := `"2023-11-14T22:13:20Z"`
	want := `{"features":["user_stats:clicks_7d","user_stats:country","user_stats:embedding"],"results":[` +
		`{"entity":{"user_id":"u1"},"values":[12,"FR \"x\"",[1,0.5,-2,0.003]],"statuses":["PRESENT","PRESENT","PRESENT"],"event_timestamps":[` + ts + `,` + ts + `,` + ts + `]},` +
		`{"entity":{"user_id":"ué"},"values":[0,null,null],"statuses":["DEFAULT","NOT_FOUND","NOT_FOUND"],"event_timestamps":["1970-01-01T00:00:00Z","1970-01-01T00:00:00Z","1970-01-01T00:00:00Z"]}` +
		`],"incomplete":false}`
	if string(out) != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	if !json.Valid(out) {
		t.Error("invalid JSON")
	}
}

func TestFeastRoundTrip(t *testing.T) {
	e := newEnv(t, testRegistry())
	pushUser(t, e, "u1", e.clk.Now())
	f := func(body, want string) {
		t.Helper()
		out, err := e.s.ServeFeast(context.Background(), []byte(body), nil)
		if err != nil {
			t.Fatalf("ServeFeast: %v", err)
		}
		if string(out) != want {
			t.Errorf("got\n%s\nwant\n%s", out, want)
		}
	}
	ts := `"2023-11-14T22:13:20Z"`
	epoch := `"1970-01-01T00:00:00Z"`
	f(`{"features":["user_stats:clicks_7d","user_stats:is_premium"],"entities":{"user_id":["u1","u2"]}}`,
		`{"metadata":{"feature_names":["user_id","clicks_7d","is_premium"]},"results":[`+
			`{"values":["u1","u2"],"statuses":["PRESENT","PRESENT"],"event_timestamps":[`+epoch+`,`+epoch+`]},`+
			// No default on the Feast endpoint unless the view opts in:
			// Feast answers a missing entity null + NOT_FOUND.
			`{"values":[12,null],"statuses":["PRESENT","NOT_FOUND"],"event_timestamps":[`+ts+`,`+epoch+`]},`+
			`{"values":[true,null],"statuses":["PRESENT","NOT_FOUND"],"event_timestamps":[`+ts+`,`+epoch+`]}]}`)
	f(`{"feature_service":"svc","entities":{"user_id":["u1"]},"full_feature_names":true,"request_context":{}}`,
		`{"metadata":{"feature_names":["user_id","user_stats__clicks_7d","user_stats__country"]},"results":[`+
			`{"values":["u1"],"statuses":["PRESENT"],"event_timestamps":[`+epoch+`]},`+
			`{"values":[12],"statuses":["PRESENT"],"event_timestamps":[`+ts+`]},`+
			`{"values":["FR \"x\""],"statuses":["PRESENT"],"event_timestamps":[`+ts+`]}]}`)
}

func TestBadRequests(t *testing.T) {
	e := newEnv(t, testRegistry())
	f := func(feast bool, body string, kind Kind, wants ...string) {
		t.Helper()
		var err error
		if feast {
			_, err = e.s.ServeFeast(context.Background(), []byte(body), nil)
		} else {
			_, err = e.s.ServeNative(context.Background(), []byte(body), nil)
		}
		if KindOf(err) != kind {
			t.Fatalf("%s: err = %v, want kind %v", body, err, kind)
		}
		for _, w := range wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", body, err, w)
			}
		}
	}
	f(false, ``, BadRequest, "malformed")
	f(false, `{"features":`, BadRequest, "malformed")
	f(false, `{"features":[]} {}`, BadRequest, "unexpected data")
	f(false, `{"features":["user_stats:ctr_7d"],"entities":[{"user_id":"u"}],"extra":1}`, BadRequest, `unknown field "extra"`)
	f(false, `{"features":"user_stats:ctr_7d"}`, BadRequest, "malformed")
	f(false, `{"features":["a:b","user_stats:zz","c"],"entities":[{"user_id":"u"}]}`, BadRequest,
		`unknown view "a"`, `unknown feature "zz"`, `"c" is not a view:feature ref`)
	f(false, `{"features":["user_stats:ctr_7d"],"entities":[{"user_id":1},{"user_id":"x","item_id":"y"},{}]}`, BadRequest,
		`entities[0].user_id: want a string, got a number`, `entities[1].item_id: want an int64, got a string`, `entities[2]: missing "item_id"`)
	f(false, `{"features":["user_stats:ctr_7d"],"entities":[{"uid":"u"}]}`, BadRequest, `unknown join key "uid"`)
	f(false, `{"features":["user_stats:ctr_7d"],"entities":[`+strings.Repeat(`{"user_id":"u"},`, 1000)+`{"user_id":"u"}]}`, TooLarge, "1001 entity rows")
	f(false, `{"features":[`+strings.Repeat(`"user_stats:ctr_7d",`, 500)+`"user_stats:ctr_7d"],"entities":[]}`, TooLarge, "501 feature refs")
	f(false, `{"features":[],"entities":[]}`, BadRequest, "no features")

	f(true, `{"features":["user_stats:ctr_7d"]}`, BadRequest, "entities: missing")
	f(true, `{"features":["user_stats:ctr_7d"],"entities":[1]}`, BadRequest, "want an object")
	f(true, `{"features":["user_stats:ctr_7d"],"entities":{"user_id":"u1"}}`, BadRequest, "entities.user_id: want a list")
	f(true, `{"features":["user_stats:ctr_7d"],"entities":{"user_id":["a"],"user_id":["b"]}}`, BadRequest, "given twice")
	f(true, `{"features":["user_stats:ctr_7d","item_stats:price"],"entities":{"user_id":["a","b"],"item_id":[1]}}`, BadRequest, `All entity rows must have the same columns.`)
	f(true, `{"feature_service":"nope","entities":{"user_id":["a"]}}`, NotFound, `Feature service nope does not exist`)
	// An int64 key is converted with Python's int(x), as Feast's Python
	// server does; its first failure is the error.
	f(true, `{"features":["item_stats:price"],"entities":{"item_id":[1.5,"x",null]}}`, BadRequest,
		`invalid literal for int() with base 10: 'x'`)
	f(true, `{"features":["item_stats:price"],"entities":{"item_id":[1.5,null]}}`, BadRequest, `entities.item_id[1]: want an int64, got null`)
	f(true, `{"features":["item_stats:price"],"entities":{"item_id":[1e300]}}`, BadRequest, `Value out of range: 1e300`)
	f(true, `{"features":["nope:x","user_stats:y"],"entities":{"user_id":["a"]}}`, NotFound, `Feature view nope does not exist`)
	f(true, `{"features":["user_stats:ctr_7d"],"entities":{"user_id":[`+strings.Repeat(`"u",`, 1000)+`"u"]}}`, TooLarge, "1001 entity rows")
}
