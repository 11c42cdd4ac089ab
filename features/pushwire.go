package features

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/tiercel/tiercel/internal/jsonstr"
)

// pushBody is the native POST /v1/push body:
//
//	{"view": "user_stats",
//	 "rows": [{"entity": {"user_id": "u1"},
//	           "values": {"clicks_7d": 12, "embedding": [0.1, ...]},
//	           "event_timestamp": "2026-11-22T10:00:00Z"}]}
//
// event_timestamp is optional (RFC 3339; default: now). Join key values may
// be JSON strings or integers.
type pushBody struct {
	View string    `json:"view"`
	Rows []pushRow `json:"rows"`
}

type pushRow struct {
	Entity         map[string]json.RawMessage `json:"entity"`
	Values         map[string]json.RawMessage `json:"values"`
	EventTimestamp string                     `json:"event_timestamp"`
}

// ParsePush decodes a push body strictly (unknown fields are errors).
func ParsePush(body []byte) (string, []PushRow, error) {
	var pb pushBody
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&pb); err != nil {
		return "", nil, errf(BadRequest, "bad_json", "cannot decode the push body: %s", clipStr(err.Error()))
	}
	if dec.More() {
		return "", nil, errf(BadRequest, "bad_json", "trailing data after the push body")
	}
	if pb.View == "" {
		return "", nil, errf(BadRequest, "missing_view", `"view" is required`)
	}
	var p problems
	rows := make([]PushRow, len(pb.Rows))
	for i, r := range pb.Rows {
		rows[i].Entity = make(map[string]string, len(r.Entity))
		for k, raw := range r.Entity {
			v, err := joinKeyText(raw)
			if err != nil {
				p.add("rows[%d].entity.%s: %v", i, clipStr(k), err)
				continue
			}
			rows[i].Entity[k] = v
		}
		rows[i].Values = make(map[string][]byte, len(r.Values))
		for k, raw := range r.Values {
			rows[i].Values[k] = raw
		}
		if r.EventTimestamp != "" {
			ts, err := time.Parse(time.RFC3339Nano, r.EventTimestamp)
			if err != nil {
				p.add("rows[%d].event_timestamp: not RFC 3339: %q", i, clipStr(r.EventTimestamp))
			}
			rows[i].EventTime = ts
		}
	}
	if err := p.err(BadRequest, "bad_rows"); err != nil {
		return "", nil, err
	}
	return pb.View, rows, nil
}

func joinKeyText(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var n json.Number
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&n); err == nil {
		if i, err := strconv.ParseInt(n.String(), 10, 64); err == nil {
			return strconv.FormatInt(i, 10), nil
		}
	}
	return "", fmt.Errorf("must be a string or an integer")
}

// ServePush parses a push body, writes its rows (Push) and appends the reply
// {"view": ..., "rows": n} to dst.
func (s *Store) ServePush(ctx context.Context, body, dst []byte) ([]byte, error) {
	view, rows, err := ParsePush(body)
	if err != nil {
		return dst, err
	}
	if err := s.Push(ctx, view, rows); err != nil {
		return dst, err
	}
	return AppendPushReply(dst, view, len(rows)), nil
}

// AppendPushReply appends POST /v1/push's answer, {"view": ..., "rows": n}.
func AppendPushReply(dst []byte, view string, rows int) []byte {
	dst = append(dst, `{"view":`...)
	dst = jsonstr.Append(dst, view)
	dst = append(dst, `,"rows":`...)
	dst = strconv.AppendInt(dst, int64(rows), 10)
	return append(dst, "}\n"...)
}
