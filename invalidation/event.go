package invalidation

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Version is the only event schema version this package reads and writes.
// A change that old consumers would misread gets a new version; consumers
// skip (and count) versions they do not know rather than guess.
const Version = 1

// DefaultTopic is the topic events are published to and read from.
const DefaultTopic = "tiercel.invalidations"

// Type says what an event asks for.
type Type string

const (
	// TypeInvalidate drops cached data: keys, tags, entities' feature rows,
	// models' predictions.
	TypeInvalidate Type = "invalidate"
	// TypeUpsert carries new feature values for its entities (written
	// through to L2, dropped from every L1); its tags, keys and models are
	// invalidated as with TypeInvalidate.
	TypeUpsert Type = "upsert"
)

// Event is one message on the invalidation topic: a public contract, also
// described by schema/event.v1.json (kept in sync by a test).
type Event struct {
	Version int    `json:"version"`
	ID      string `json:"id"` // unique per event: consumers drop repeats
	Type    Type   `json:"type"`

	Tags     []string `json:"tags,omitempty"`     // surrogate keys
	Keys     []string `json:"keys,omitempty"`     // request paths with their query: the gateway keys a GET of each
	Entities []Entity `json:"entities,omitempty"` // feature-view rows
	Models   []string `json:"models,omitempty"`   // model names, or name@version

	// SourceVersion, when positive, orders the events of each entity and tag
	// at the producer: a consumer ignores an event for the targets on which
	// it has already applied a higher one. Zero: unordered.
	SourceVersion int64 `json:"source_version,omitempty"`

	// TS is when the change happened at the source; the event-to-apply
	// latency is measured from it (from the Kafka message time when zero).
	TS time.Time `json:"ts,omitzero"`
}

// Entity is one row of a feature view.
type Entity struct {
	View string `json:"view"`

	// Key maps the view's entity columns to their values: string or int64
	// (JSON strings and integers).
	Key map[string]any `json:"key"`

	// Values are the new feature values of an upsert, opaque JSON to this
	// package (the features package checks them against the view). Absent
	// in an invalidate event.
	Values map[string]json.RawMessage `json:"values,omitempty"`
}

// CanonicalKey identifies the entity's row: the view and its key columns
// as JSON with sorted column names, e.g. `user_stats{"user_id":"u1"}`.
func (e Entity) CanonicalKey() string {
	// json.Marshal sorts map keys, and Key holds only strings and ints.
	b, err := json.Marshal(e.Key)
	if err != nil {
		panic("BUG: entity key of a validated event does not encode: " + err.Error())
	}
	return e.View + string(b)
}

// RoutingKey is the Kafka message key: the first target, so that one
// entity's or tag's events stay in one partition and arrive in order.
func (ev *Event) RoutingKey() string {
	switch {
	case len(ev.Entities) > 0:
		return ev.Entities[0].CanonicalKey()
	case len(ev.Tags) > 0:
		return ev.Tags[0]
	case len(ev.Keys) > 0:
		return ev.Keys[0]
	case len(ev.Models) > 0:
		return ev.Models[0]
	}
	return ev.ID
}

// targets calls fn with a name for each thing the event concerns, unique
// across kinds; source_version ordering is tracked per target.
func (ev *Event) targets(fn func(string)) {
	for _, t := range ev.Tags {
		fn("t:" + t)
	}
	for _, k := range ev.Keys {
		fn("k:" + k)
	}
	for _, e := range ev.Entities {
		fn("e:" + e.CanonicalKey())
	}
	for _, m := range ev.Models {
		fn("m:" + m)
	}
}

// keep returns a copy of ev holding only the targets for which ok is true.
func (ev *Event) keep(ok func(string) bool) *Event {
	out := *ev
	out.Tags = filter(ev.Tags, func(t string) bool { return ok("t:" + t) })
	out.Keys = filter(ev.Keys, func(k string) bool { return ok("k:" + k) })
	out.Entities = filter(ev.Entities, func(e Entity) bool { return ok("e:" + e.CanonicalKey()) })
	out.Models = filter(ev.Models, func(m string) bool { return ok("m:" + m) })
	return &out
}

func (ev *Event) numTargets() int {
	return len(ev.Tags) + len(ev.Keys) + len(ev.Entities) + len(ev.Models)
}

func filter[T any](in []T, ok func(T) bool) []T {
	var out []T
	for _, v := range in {
		if ok(v) {
			out = append(out, v)
		}
	}
	return out
}

// keyValue converts a JSON entity-key value to string or int64.
func keyValue(raw json.RawMessage) (any, bool) {
	s := strings.TrimSpace(string(raw))
	if strings.HasPrefix(s, `"`) {
		var v string
		if json.Unmarshal(raw, &v) != nil {
			return nil, false
		}
		return v, true
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}
