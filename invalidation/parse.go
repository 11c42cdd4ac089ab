package invalidation

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits of one event; schema/event.v1.json states the same ones. They keep
// one bad producer from stalling every replica on a giant message.
const (
	MaxEventBytes = 1 << 20 // one Kafka message (Kafka's default max is ~1 MB)
	MaxTargets    = 1000    // tags + keys + entities + models
	MaxIDLen      = 256     // characters
	MaxNameLen    = 4096    // characters of a tag, key, model, view or key column
)

// Reason classifies why an event was rejected; it labels the skipped-events
// metric, so the set is small and fixed.
type Reason string

const (
	ReasonBadJSON        Reason = "bad_json"
	ReasonUnknownVersion Reason = "unknown_version"
	ReasonMissingField   Reason = "missing_field"
	ReasonBadField       Reason = "bad_field"
	ReasonUnknownField   Reason = "unknown_field"
	ReasonTooLarge       Reason = "too_large"
)

// ParseError is the error of Parse and Validate.
type ParseError struct {
	Reason Reason
	Field  string // JSON path of the offending field, e.g. entities[1].key; empty for the whole message
	Msg    string
}

func (e *ParseError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("invalid event: %s: %s", e.Reason, e.Msg)
	}
	return fmt.Sprintf("invalid event: %s: %s: %s", e.Field, e.Reason, e.Msg)
}

func perr(r Reason, field, format string, args ...any) *ParseError {
	return &ParseError{Reason: r, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// wireEvent is the JSON shape before checks: pointers tell absent required
// fields, raw optional fields tell absent from null (an error, as in the
// schema), raw entity keys are typed afterwards.
type wireEvent struct {
	Version       json.RawMessage `json:"version"`
	ID            *string         `json:"id"`
	Type          *string         `json:"type"`
	Tags          json.RawMessage `json:"tags"`
	Keys          json.RawMessage `json:"keys"`
	Entities      json.RawMessage `json:"entities"`
	Models        json.RawMessage `json:"models"`
	SourceVersion json.RawMessage `json:"source_version"`
	TS            json.RawMessage `json:"ts"`
}

type wireEntity struct {
	View   *string                    `json:"view"`
	Key    map[string]json.RawMessage `json:"key"`
	Values json.RawMessage            `json:"values"`
}

// Parse decodes and validates one event strictly: unknown fields, trailing
// data and wrong types are errors. Every error is a *ParseError.
func Parse(data []byte) (*Event, error) {
	if len(data) > MaxEventBytes {
		return nil, perr(ReasonTooLarge, "", "%d bytes, max %d", len(data), MaxEventBytes)
	}
	// The version decides the shape of the rest: read it alone first, so a
	// future version is reported as such rather than as unknown fields.
	var head struct {
		Version json.RawMessage `json:"version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, jsonError(err, "")
	}
	if head.Version == nil || string(head.Version) == "null" {
		return nil, perr(ReasonMissingField, "version", "required")
	}
	if string(head.Version) != "1" {
		return nil, perr(ReasonUnknownVersion, "version", "%.20s, want %d", head.Version, Version)
	}
	var w wireEvent
	if err := decodeStrict(data, &w, ""); err != nil {
		return nil, err
	}
	ev, err := w.event()
	if err != nil {
		return nil, err
	}
	if err := ev.Validate(); err != nil {
		return nil, err
	}
	return ev, nil
}

// decodeStrict decodes one JSON value into dst, rejecting unknown fields
// and trailing data; field prefixes the paths in errors.
func decodeStrict(data []byte, dst any, field string) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err, field)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return perr(ReasonBadJSON, field, "data after the value")
	}
	return nil
}

// decodeOptional decodes an optional field: absent leaves dst alone, null
// is an error (the schema has no nulls).
func decodeOptional(raw json.RawMessage, dst any, field string) error {
	switch {
	case raw == nil:
		return nil
	case string(raw) == "null":
		return perr(ReasonBadField, field, "must not be null (omit it instead)")
	}
	return decodeStrict(raw, dst, field)
}

func jsonError(err error, prefix string) *ParseError {
	join := func(name string) string {
		switch {
		case prefix == "":
			return name
		case name == "":
			return prefix
		case strings.HasPrefix(name, "["):
			return prefix + name
		}
		return prefix + "." + name
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && (te.Field != "" || prefix != "") {
		return perr(ReasonBadField, join(te.Field), "want %s, got %s", te.Type, te.Value)
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return perr(ReasonUnknownField, join(strings.Trim(name, `"`)), "not in schema version %d", Version)
	}
	return perr(ReasonBadJSON, prefix, "%v", err)
}

// event types the wire form; Validate checks the rest.
func (w *wireEvent) event() (*Event, error) {
	ev := &Event{Version: Version}
	switch {
	case w.ID == nil:
		return nil, perr(ReasonMissingField, "id", "required")
	case *w.ID == "":
		return nil, perr(ReasonBadField, "id", "must not be empty")
	case w.Type == nil:
		return nil, perr(ReasonMissingField, "type", "required")
	}
	ev.ID, ev.Type = *w.ID, Type(*w.Type)
	var sv json.Number
	var ts string
	var entities []json.RawMessage
	for _, o := range []struct {
		raw   json.RawMessage
		dst   any
		field string
	}{
		{w.Tags, &ev.Tags, "tags"}, {w.Keys, &ev.Keys, "keys"}, {w.Models, &ev.Models, "models"},
		{w.Entities, &entities, "entities"}, {w.SourceVersion, &sv, "source_version"}, {w.TS, &ts, "ts"},
	} {
		if err := decodeOptional(o.raw, o.dst, o.field); err != nil {
			return nil, err
		}
	}
	if sv != "" {
		n, err := sv.Int64()
		if err != nil {
			return nil, perr(ReasonBadField, "source_version", "want an int64, got %.30s", sv)
		}
		ev.SourceVersion = n
	}
	if w.TS != nil {
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return nil, perr(ReasonBadField, "ts", "want an RFC 3339 time, got %.40q", ts)
		}
		ev.TS = t
	}
	for i, raw := range entities {
		e, err := entity(raw, fmt.Sprintf("entities[%d]", i))
		if err != nil {
			return nil, err
		}
		ev.Entities = append(ev.Entities, e)
	}
	return ev, nil
}

func entity(raw json.RawMessage, field string) (Entity, error) {
	var we wireEntity
	if err := decodeStrict(raw, &we, field); err != nil {
		return Entity{}, err
	}
	if we.View == nil {
		return Entity{}, perr(ReasonMissingField, field+".view", "required")
	}
	e := Entity{View: *we.View}
	if err := decodeOptional(we.Values, &e.Values, field+".values"); err != nil {
		return Entity{}, err
	}
	if we.Key != nil {
		e.Key = make(map[string]any, len(we.Key))
	}
	for col, raw := range we.Key {
		v, ok := keyValue(raw)
		if !ok {
			return Entity{}, perr(ReasonBadField, field+".key."+col, "want a string or an int64, got %.30s", raw)
		}
		e.Key[col] = v
	}
	return e, nil
}

// Validate checks an event built in Go (Parse calls it too): what the
// schema requires, plus the limits. Every error is a *ParseError.
func (ev *Event) Validate() error {
	switch {
	case ev.Version != Version:
		return perr(ReasonUnknownVersion, "version", "%d, want %d", ev.Version, Version)
	case ev.ID == "":
		return perr(ReasonMissingField, "id", "required")
	case utf8.RuneCountInString(ev.ID) > MaxIDLen:
		return perr(ReasonTooLarge, "id", "longer than %d characters", MaxIDLen)
	case ev.Type != TypeInvalidate && ev.Type != TypeUpsert:
		return perr(ReasonBadField, "type", "%.40q, want invalidate or upsert", ev.Type)
	case ev.numTargets() == 0:
		return perr(ReasonMissingField, "tags", "an event needs at least one of tags, keys, entities, models")
	case ev.Type == TypeUpsert && len(ev.Entities) == 0:
		return perr(ReasonMissingField, "entities", "an upsert needs entities with values")
	case ev.numTargets() > MaxTargets:
		return perr(ReasonTooLarge, "", "%d targets, max %d", ev.numTargets(), MaxTargets)
	case ev.SourceVersion < 0:
		return perr(ReasonBadField, "source_version", "must not be negative")
	}
	for _, l := range []struct {
		field string
		names []string
	}{{"tags", ev.Tags}, {"keys", ev.Keys}, {"models", ev.Models}} {
		for i, n := range l.names {
			if err := checkName(fmt.Sprintf("%s[%d]", l.field, i), n); err != nil {
				return err
			}
		}
	}
	for i, e := range ev.Entities {
		if err := e.validate(fmt.Sprintf("entities[%d]", i), ev.Type); err != nil {
			return err
		}
	}
	return nil
}

func (e *Entity) validate(field string, typ Type) error {
	if err := checkName(field+".view", e.View); err != nil {
		return err
	}
	if len(e.Key) == 0 {
		return perr(ReasonMissingField, field+".key", "an entity needs at least one key column")
	}
	for col, v := range e.Key {
		if err := checkName(field+".key", col); err != nil {
			return err
		}
		switch v.(type) {
		case string, int64, int:
		default:
			return perr(ReasonBadField, field+".key."+col, "want a string or an int64, got %T", v)
		}
	}
	switch {
	case typ == TypeUpsert && len(e.Values) == 0:
		return perr(ReasonMissingField, field+".values", "an upsert needs values")
	case typ == TypeInvalidate && e.Values != nil:
		return perr(ReasonBadField, field+".values", "only upserts carry values")
	}
	for name, raw := range e.Values {
		if err := checkName(field+".values", name); err != nil {
			return err
		}
		if !json.Valid(raw) || string(raw) == "null" {
			return perr(ReasonBadField, field+".values."+name, "want a JSON value, not null")
		}
	}
	return nil
}

func checkName(field, s string) error {
	switch {
	case s == "":
		return perr(ReasonBadField, field, "must not be empty")
	case !utf8.ValidString(s):
		return perr(ReasonBadField, field, "not valid UTF-8")
	case utf8.RuneCountInString(s) > MaxNameLen:
		return perr(ReasonTooLarge, field, "longer than %d characters", MaxNameLen)
	}
	return nil
}
