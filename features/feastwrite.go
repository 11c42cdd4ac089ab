package features

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Feast's writes, POST /push and POST /write-to-online-store, as its Python
// feature server takes them (sdk/python/feast/feature_server.py,
// PushFeaturesRequest and WriteToFeatureStoreRequest): a columnar df
// ({"col": [values...]}, what pd.DataFrame(df) reads), turned into rows for
// PushViews. The columns are the view's join keys, its features and its
// timestamp_field; others are ignored, as Feast's ingestion reads only the
// columns it knows (a push source may feed views of different features).

// ParseFeastPush reads a /push body into the rows of every view whose
// push_source is push_source_name. `to` must be online: the gateway has no
// offline store, so offline and online_and_offline are refused (422) and
// nothing is written, rather than answering success for data that went
// nowhere.
func (s *Store) ParseFeastPush(body []byte) ([]ViewRows, error) {
	fields, name, df, err := feastWriteRequest(body, "push_source_name")
	if err != nil {
		return nil, err
	}
	to, err := stringField(fields, body, "to", "online")
	if err != nil {
		return nil, err
	}
	switch to {
	case "online":
	case "offline", "online_and_offline":
		return nil, invalid("value_error", fmt.Sprintf("Value error, %s is not supported by this gateway: it has no offline store. Push with to=online.", to), fields["to"], "to")
	default:
		// Feast raises a ValueError with this message (a 500).
		return nil, invalid("value_error", fmt.Sprintf("Value error, %s is not a supported push format. Please specify one of these ['online', 'offline', 'online_and_offline'].", to), fields["to"], "to")
	}
	var out []ViewRows
	for _, v := range s.reg.viewList {
		if v.pushSource != name {
			continue
		}
		rows, err := dfRows(v, df)
		if err != nil {
			return nil, err
		}
		if len(rows) > 0 {
			out = append(out, ViewRows{View: v.name, Rows: rows})
		}
	}
	if len(out) == 0 && !s.hasPushSource(name) {
		return nil, feastErr(BadRequest, "unknown_push_source", "PushSourceNotFoundException", "Unable to find push source '%s'.", name)
	}
	return out, nil
}

func (s *Store) hasPushSource(name string) bool {
	for _, v := range s.reg.viewList {
		if v.pushSource == name {
			return true
		}
	}
	return false
}

// ParseFeastWrite reads a /write-to-online-store body into its view's rows.
func (s *Store) ParseFeastWrite(body []byte) ([]ViewRows, error) {
	fields, name, df, err := feastWriteRequest(body, "feature_view_name")
	if err != nil {
		return nil, err
	}
	v := s.reg.views[name]
	if v == nil {
		return nil, feastErr(NotFound, "unknown_features", "FeatureViewNotFoundException", "Feature view %s does not exist", name)
	}
	if v.source == sourceHTTP {
		return nil, invalid("value_error", fmt.Sprintf("Value error, feature view %s is served by an upstream and cannot be written to", name), fields["feature_view_name"], "feature_view_name")
	}
	rows, err := dfRows(v, df)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	return []ViewRows{{View: v.name, Rows: rows}}, nil
}

// feastWriteRequest reads what both writes have: the required name field,
// the bool flags and df, in pydantic's order of fields.
func feastWriteRequest(body []byte, nameField string) (map[string]json.RawMessage, string, map[string][]json.RawMessage, error) {
	fields, err := feastFields(body)
	if err != nil {
		return nil, "", nil, err
	}
	name, err := stringField(fields, body, nameField, "")
	if err != nil {
		return nil, "", nil, err
	}
	if err := boolFields(fields); err != nil {
		return nil, "", nil, err
	}
	df, err := dfField(fields, body)
	if err != nil {
		return nil, "", nil, err
	}
	return fields, name, df, nil
}

// feastFields decodes the body's top level, as FastAPI would before
// pydantic validates it.
func feastFields(body []byte) (map[string]json.RawMessage, error) {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		var off int64
		var se *json.SyntaxError
		if errors.As(err, &se) {
			off = se.Offset
		}
		return nil, invalid("json_invalid", "JSON decode error", json.RawMessage("{}"), off)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return nil, invalid("model_attributes_type", "Input should be a valid dictionary or object to extract fields from", bytes.TrimSpace(body))
	}
	return fields, nil
}

// stringField reads a str field; def "" means required.
func stringField(fields map[string]json.RawMessage, body []byte, name, def string) (string, error) {
	raw, ok := fields[name]
	if !ok {
		if def != "" {
			return def, nil
		}
		return "", invalid("missing", "Field required", bytes.TrimSpace(body), name)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil || isNull(raw) {
		return "", invalid("string_type", "Input should be a valid string", raw, name)
	}
	return s, nil
}

// boolFields checks the bool fields the gateway accepts and has no use for:
// allow_registry_cache (its registry is always current) and
// transform_on_write (it has no on-demand views).
func boolFields(fields map[string]json.RawMessage) error {
	for _, name := range []string{"allow_registry_cache", "transform_on_write"} {
		raw, ok := fields[name]
		if ok && !pydanticBool(raw) {
			return invalid("bool_parsing", "Input should be a valid boolean, unable to interpret input", raw, name)
		}
	}
	return nil
}

// pydanticBool: what pydantic's lax bool accepts.
func pydanticBool(raw json.RawMessage) bool {
	var b bool
	if json.Unmarshal(raw, &b) == nil && !isNull(raw) {
		return true
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch s {
		case "0", "off", "f", "false", "n", "no", "1", "on", "t", "true", "y", "yes":
			return true
		}
		return false
	}
	var n float64
	return json.Unmarshal(raw, &n) == nil && !isNull(raw) && (n == 0 || n == 1)
}

// dfField reads df: columns of equal length.
func dfField(fields map[string]json.RawMessage, body []byte) (map[string][]json.RawMessage, error) {
	raw, ok := fields["df"]
	if !ok {
		return nil, invalid("missing", "Field required", bytes.TrimSpace(body), "df")
	}
	var cols map[string]json.RawMessage
	if err := json.Unmarshal(raw, &cols); err != nil || cols == nil {
		return nil, invalid("dict_type", "Input should be a valid dictionary", raw, "df")
	}
	df := make(map[string][]json.RawMessage, len(cols))
	n := -1
	for name, c := range cols {
		var vals []json.RawMessage
		if err := json.Unmarshal(c, &vals); err != nil || vals == nil {
			// pandas: "If using all scalar values, you must pass an index".
			return nil, invalid("value_error", "Value error, every df column must be a list of values", c, "df", name)
		}
		if n >= 0 && len(vals) != n {
			return nil, invalid("value_error", "Value error, All arrays must be of the same length", raw, "df")
		}
		n = len(vals)
		df[name] = vals
	}
	return df, nil
}

// dfRows turns df into v's rows: a row whose feature values are all null
// is left out (Feast writes nothing for a df whose feature columns are all
// null); a null value is not written, the feature keeping its stored one.
func dfRows(v *view, df map[string][]json.RawMessage) ([]PushRow, error) {
	n := 0
	for _, c := range df {
		n = len(c)
		break
	}
	var p []Detail
	bad := func(msg string, input json.RawMessage, loc ...any) {
		if input == nil {
			input = json.RawMessage("null")
		}
		p = append(p, Detail{Type: "value_error", Loc: append([]any{"body", "df"}, loc...), Msg: "Value error, " + msg, Input: input})
	}
	for _, k := range v.keys {
		if _, ok := df[k.name]; !ok {
			bad(fmt.Sprintf("column %s (a join key of feature view %s) is missing", k.name, v.name), nil, k.name)
		}
	}
	has := false
	for _, f := range v.features {
		_, ok := df[f.name]
		has = has || ok
	}
	if !has {
		bad(fmt.Sprintf("df has none of the features of feature view %s", v.name), nil)
	}
	if len(p) > 0 {
		return nil, &RequestError{Details: p}
	}
	rows := make([]PushRow, 0, n)
	for i := range n {
		r := PushRow{Entity: make(map[string]string, len(v.keys)), Values: map[string][]byte{}}
		for _, f := range v.features {
			if c, ok := df[f.name]; ok && !isNull(c[i]) {
				r.Values[f.name] = c[i]
			}
		}
		if len(r.Values) == 0 {
			continue
		}
		for _, k := range v.keys {
			val, err := joinKeyText(df[k.name][i])
			if err != nil {
				bad(err.Error(), df[k.name][i], k.name, i)
			}
			r.Entity[k.name] = val
		}
		if c, ok := df[v.tsField]; ok && !isNull(c[i]) {
			t, err := parseFeastTime(c[i])
			if err != nil {
				bad(err.Error(), c[i], v.tsField, i)
			}
			r.EventTime = t
		}
		rows = append(rows, r)
		if len(p) > 50 {
			break
		}
	}
	if len(p) > 0 {
		return nil, &RequestError{Details: p}
	}
	return rows, nil
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// feastTimeLayouts are the text forms of an event time Feast's clients
// send and pandas.to_datetime reads (Feast's ingestion runs it on the
// timestamp column): `str(datetime)` ("2022-05-13 10:59:42.123456",
// "2022-05-13 10:59:42+00:00") and ISO 8601 with a T, with or without
// fractional seconds (any number of digits up to nanoseconds: Go reads
// them after the seconds whatever the layout) and a zone (Z, ±hh:mm,
// ±hhmm, ±hh). Without a zone the time is UTC, as Feast takes naive times.
var feastTimeLayouts = []string{
	"2006-01-02 15:04:05Z07:00", "2006-01-02T15:04:05Z07:00",
	"2006-01-02 15:04:05Z0700", "2006-01-02T15:04:05Z0700",
	"2006-01-02 15:04:05Z07", "2006-01-02T15:04:05Z07",
	"2006-01-02 15:04:05", "2006-01-02T15:04:05",
	"2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02",
}

// parseFeastTime reads an event time: one of feastTimeLayouts, or an
// integer, nanoseconds since the epoch (what pandas makes of one).
func parseFeastTime(raw json.RawMessage) (time.Time, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		for _, l := range feastTimeLayouts {
			if t, err := time.Parse(l, s); err == nil {
				return t, nil
			}
		}
		return time.Time{}, fmt.Errorf("cannot read %q as a date and time", clipStr(s))
	}
	if ns, err := strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 64); err == nil {
		return time.Unix(0, ns).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("an event time must be a date and time string or an integer (ns since the epoch)")
}
