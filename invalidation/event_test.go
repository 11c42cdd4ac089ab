package invalidation

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var reasons = []Reason{ReasonBadJSON, ReasonUnknownVersion, ReasonMissingField, ReasonBadField, ReasonUnknownField, ReasonTooLarge}

// The examples in testdata/events are the contract: valid_* must pass both
// Parse and the JSON Schema, invalid_<reason>_* must fail both (Parse with
// that reason).
func TestExamplesAgainstParseAndSchema(t *testing.T) {
	schema, err := os.ReadFile("schema/event.v1.json")
	if err != nil {
		t.Fatal(err)
	}
	v, err := newSchemaValidator(schema)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("testdata/events/*.json")
	if len(files) < 20 {
		t.Fatalf("only %d examples", len(files))
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		ev, perr := Parse(data)
		serr := v.validate(data)
		if strings.HasPrefix(name, "valid_") {
			if perr != nil || serr != nil {
				t.Errorf("%s: Parse: %v; schema: %v", name, perr, serr)
			}
			roundTrip(t, name, ev)
			continue
		}
		want := reasonOf(name)
		var pe *ParseError
		if !errors.As(perr, &pe) || pe.Reason != want {
			t.Errorf("%s: Parse error %v, want reason %s", name, perr, want)
		}
		if serr == nil {
			t.Errorf("%s: the schema accepts what Parse rejects (%v)", name, perr)
		}
	}
}

func reasonOf(name string) Reason {
	rest := strings.TrimPrefix(name, "invalid_")
	for _, r := range reasons {
		if strings.HasPrefix(rest, string(r)+"_") {
			return r
		}
	}
	panic("example " + name + " names no reason")
}

// roundTrip checks that what Parse returns marshals back to an equal event.
func roundTrip(t *testing.T, name string, ev *Event) {
	t.Helper()
	if ev == nil {
		return
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatalf("%s: Marshal: %v", name, err)
	}
	again, err := Parse(b)
	if err != nil {
		t.Fatalf("%s: re-Parse of %s: %v", name, b, err)
	}
	if !reflect.DeepEqual(normalized(ev), normalized(again)) {
		t.Fatalf("%s: round trip changed the event:\n%+v\n%+v", name, ev, again)
	}
}

func normalized(ev *Event) *Event {
	out := *ev
	out.TS = out.TS.UTC()
	for _, l := range []*[]string{&out.Tags, &out.Keys, &out.Models} {
		if len(*l) == 0 {
			*l = nil
		}
	}
	return &out
}

func TestParseFieldPaths(t *testing.T) {
	f := func(in string, reason Reason, field string) {
		t.Helper()
		_, err := Parse([]byte(in))
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Reason != reason || pe.Field != field {
			t.Fatalf("Parse(%s) = %v, want %s at %q", in, err, reason, field)
		}
		if !strings.Contains(err.Error(), string(reason)) {
			t.Fatalf("error %q does not name its reason", err)
		}
	}
	f(`{"version":1,"id":"e","type":"invalidate","tags":["a",""]}`, ReasonBadField, "tags[1]")
	f(`{"version":1,"id":"e","type":"invalidate","entities":[{"view":"v","key":{"a":"1"}},{"key":{"a":"1"}}]}`, ReasonMissingField, "entities[1].view")
	f(`{"version":1,"id":"e","type":"invalidate","entities":[{"view":"v","key":{"a":true}}]}`, ReasonBadField, "entities[0].key.a")
	f(`{"version":1,"id":"e","type":"upsert","entities":[{"view":"v","key":{"a":1},"values":{"f":null}}]}`, ReasonBadField, "entities[0].values.f")
	f(`{"version":1,"id":"e","type":"invalidate","tags":"a"}`, ReasonBadField, "tags")
	f(`{"version":1,"id":"e","type":"invalidate","tags":["a"],"extra":1}`, ReasonUnknownField, "extra")
	f(`{"version":3}`, ReasonUnknownVersion, "version")
	f(`{"version":null,"id":"e"}`, ReasonMissingField, "version")
	f(``, ReasonBadJSON, "")
	f(`"event"`, ReasonBadJSON, "")
	f(`{"version":1,"id":"e","type":"invalidate","models":["`+strings.Repeat("m", MaxNameLen+1)+`"]}`, ReasonTooLarge, "models[0]")
	f(`{"version":1,"id":"e","type":"invalidate","tags":["`+strings.Repeat("a", MaxEventBytes)+`"]}`, ReasonTooLarge, "")
	many := `{"version":1,"id":"e","type":"invalidate","tags":["a"` + strings.Repeat(`,"a"`, MaxTargets) + `]}`
	f(many, ReasonTooLarge, "")
}

func TestParseTypesValues(t *testing.T) {
	ev, err := Parse([]byte(`{"version":1,"id":"e","type":"upsert","source_version":9007199254740993,"ts":"2026-11-22T10:00:00.5Z",
		"entities":[{"view":"user_stats","key":{"user_id":"u1","shard":12},"values":{"clicks_7d":12}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	e := ev.Entities[0]
	if e.Key["user_id"] != "u1" || e.Key["shard"] != int64(12) || string(e.Values["clicks_7d"]) != "12" {
		t.Fatalf("entity = %+v", e)
	}
	if ev.SourceVersion != 9007199254740993 || !ev.TS.Equal(time.Date(2026, 11, 22, 10, 0, 0, 5e8, time.UTC)) {
		t.Fatalf("source_version %d ts %s", ev.SourceVersion, ev.TS)
	}
	if got, want := e.CanonicalKey(), `user_stats{"shard":12,"user_id":"u1"}`; got != want || ev.RoutingKey() != want {
		t.Fatalf("CanonicalKey = %s, RoutingKey = %s, want %s", got, ev.RoutingKey(), want)
	}
}

func TestValidateGoEvents(t *testing.T) {
	f := func(ev Event, reason Reason) {
		t.Helper()
		err := ev.Validate()
		var pe *ParseError
		if reason == "" && err != nil || reason != "" && (!errors.As(err, &pe) || pe.Reason != reason) {
			t.Fatalf("Validate(%+v) = %v, want %q", ev, err, reason)
		}
	}
	ok := Event{Version: 1, ID: "e", Type: TypeInvalidate, Tags: []string{"a"}}
	f(ok, "")
	f(Event{Version: 1, ID: "e", Type: TypeInvalidate, Entities: []Entity{{View: "v", Key: map[string]any{"id": 7}}}}, "")
	f(Event{Version: 1, ID: "e", Type: TypeInvalidate, Entities: []Entity{{View: "v", Key: map[string]any{"id": 1.5}}}}, ReasonBadField)
	f(Event{ID: "e", Type: TypeInvalidate, Tags: []string{"a"}}, ReasonUnknownVersion)
	f(Event{Version: 1, Type: TypeInvalidate, Tags: []string{"a"}}, ReasonMissingField)
	f(Event{Version: 1, ID: "e", Type: "purge", Tags: []string{"a"}}, ReasonBadField)
	f(Event{Version: 1, ID: "e", Type: TypeInvalidate}, ReasonMissingField)
}
