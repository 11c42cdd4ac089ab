package features

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

// fuzzStore has no Redis: redis views answer incomplete, memory views
// from process memory, so every parsed query also renders.
func fuzzStore(t testing.TB) *Store {
	s, err := New(testRegistry(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	_ = s.Push(context.Background(), "item_stats", []PushRow{{Entity: map[string]string{"item_id": "1"}, Values: map[string][]byte{"price": []byte("2.5")}}})
	return s
}

func checkParsed(t *testing.T, s *Store, q *Query, err error, render func(*Result) []byte) {
	if err != nil {
		if KindOf(err) == 0 {
			t.Fatalf("untyped error %v", err)
		}
		return
	}
	res, err := s.Get(context.Background(), q)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	defer res.Release()
	if out := render(res); !json.Valid(out) {
		t.Fatalf("invalid JSON rendered: %s", out)
	}
}

// FuzzParseNative: the hand parser never panics, fails with typed errors,
// and agrees with encoding/json decoding the same body (parseNativeStd):
// the same answer when either accepts, both failing otherwise, with the
// same error kind. One difference is meant: when "entities" is given
// twice, encoding/json merges the second list's objects into the first's
// maps; the hand parser keeps the last list, as for any repeated field.
func FuzzParseNative(f *testing.F) {
	f.Add([]byte(`{"features":["user_stats:clicks_7d","item_stats:price"],"entities":[{"user_id":"u1","item_id":1}]}`))
	f.Add([]byte(`{"features":["user_stats:country"],"entities":[{"user_id":"\u2028\"%:"}]}`))
	f.Add([]byte(`{"FEATURES":["user_stats:country"],"features":null,"entities":[null,{"user_id":"a","user_id":"\ud83d\ude00\ud800x"}]}`))
	f.Add([]byte(` {"entities":[{"item_id":-0,"user_id":"\u00e9"},{"item_id":1.5,"x":[{"y":[]}]}], "features":["item_stats:price"]} `))
	s := fuzzStore(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		refs, keys, rows, err := s.parseNative(body)
		if repeatedEntities(body) {
			checkParsedNative(t, s, body)
			return
		}
		wrefs, wkeys, wrows, werr := parseNativeStd(s, body)
		if (err == nil) != (werr == nil) || KindOf(err) != KindOf(werr) {
			t.Fatalf("hand parser: %v\nencoding/json: %v", err, werr)
		}
		if err == nil && (!slices.Equal(refs, wrefs) || !slices.Equal(keys, wkeys) ||
			!slices.EqualFunc(rows, wrows, slices.Equal[[]string])) {
			t.Fatalf("hand parser: %q %q %q\nencoding/json: %q %q %q", refs, keys, rows, wrefs, wkeys, wrows)
		}
		checkParsedNative(t, s, body)
	})
}

func checkParsedNative(t *testing.T, s *Store, body []byte) {
	q, err := s.ParseNative(body)
	checkParsed(t, s, q, err, func(r *Result) []byte { return r.AppendNative(nil) })
}

// repeatedEntities reports whether body is an object naming "entities"
// (case-insensitively, as encoding/json matches) more than once.
func repeatedEntities(body []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return false
	}
	n := 0
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return false
		}
		if k, _ := t.(string); strings.EqualFold(k, "entities") {
			n++
		}
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return false
		}
	}
	return n > 1
}

// parseNativeStd is ParseNative as it was before the hand parser, with
// encoding/json: the reference FuzzParseNative compares with.
func parseNativeStd(s *Store, body []byte) (refs, keys []string, rows [][]string, err error) {
	var req struct {
		Features []string                     `json:"features"`
		Entities []map[string]json.RawMessage `json:"entities"`
	}
	if err := decodeStrict(body, &req, false); err != nil {
		return nil, nil, nil, err
	}
	keys, rows, err = s.entityRows(req.Entities)
	return req.Features, keys, rows, err
}

// FuzzParseFeast: the hand parser never panics, fails with typed errors,
// and agrees with encoding/json decoding the same body (parseFeastStd):
// the same query when either accepts, the same error (kind, code and
// message) otherwise.
func FuzzParseFeast(f *testing.F) {
	f.Add([]byte(`{"features":["item_stats:price"],"entities":{"item_id":[1,2]},"full_feature_names":true}`))
	f.Add([]byte(`{"feature_service":"svc","entities":{"user_id":["a"]}}`))
	f.Add([]byte(`{"FEATURES":["user_stats:country"],"Full_Feature_Nameſ":true,"full_feature_names":null,"request_context":{"a":[1]},"x":null,"entities":{"user_id":["\u00e9"]}}`))
	f.Add([]byte(`{"features":["user_stats:country","item_stats:price"],"features":[null],"feature_service":"svc","feature_service":null,"entities":1,"entities":{"user_id":["a"]}}`))
	f.Add([]byte(` {"features":[],"features":["user_stats:clicks_7d",null],"entities":{"user_id":["a","b"],"item_id":["1",2.5]}} `))
	f.Add([]byte(`{"features":["user_stats:country"],"entities":{"user_id":["a"]}} {}`))
	s := fuzzStore(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		q, err := s.ParseFeast(body)
		wq, werr := parseFeastStd(s, body)
		if (err == nil) != (werr == nil) || err != nil && err.Error() != werr.Error() ||
			KindOf(err) != KindOf(werr) || codeOf(err) != codeOf(werr) {
			t.Fatalf("hand parser: %v\nencoding/json: %v", err, werr)
		}
		if err == nil && (!slices.Equal(q.Refs, wq.Refs) || !slices.Equal(q.JoinKeys, wq.JoinKeys) ||
			!slices.EqualFunc(q.Rows, wq.Rows, slices.Equal[[]string]) || q.FullFeatureNames != wq.FullFeatureNames) {
			t.Fatalf("hand parser: %q %q %q %v\nencoding/json: %q %q %q %v",
				q.Refs, q.JoinKeys, q.Rows, q.FullFeatureNames, wq.Refs, wq.JoinKeys, wq.Rows, wq.FullFeatureNames)
		}
		checkParsed(t, s, q, err, func(r *Result) []byte { return r.AppendFeast(nil) })
	})
}

// parseFeastStd is ParseFeast as it was before the hand parser, with
// encoding/json: the reference FuzzParseFeast compares with.
func parseFeastStd(s *Store, body []byte) (*Query, error) {
	var req feastRequest
	if err := decodeStrict(body, &req, true); err != nil {
		return nil, err
	}
	return s.feastQuery(req.Features, req.FeatureService, req.Entities, req.FullFeatureNames)
}

func codeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code + "/" + e.Feast
	}
	return ""
}

// FuzzValueCodec: whatever a client or an external writer sends, a value
// accepted is canonical (idempotent), valid JSON, and read back as stored.
func FuzzValueCodec(f *testing.F) {
	for _, s := range []string{`1`, `-0.5e3`, `"a\u0000b"`, `true`, `[1,2]`, `["x"]`, `[0.1,2,3,4]`, `"\xff"`} {
		f.Add(s, uint8(0))
	}
	types := []string{"int64", "float64", "string", "bool", "list<int64>", "list<string>", "list<float64>", "float32_vector[4]"}
	f.Fuzz(func(t *testing.T, in string, ti uint8) {
		typ, _ := ParseType(types[int(ti)%len(types)])
		canon, err := typ.canonJSON(nil, []byte(in))
		if err != nil {
			return
		}
		if !json.Valid(canon) {
			t.Fatalf("%s %q: invalid canonical JSON %s", typ, in, canon)
		}
		again, err := typ.canonJSON(nil, canon)
		if err != nil || !bytes.Equal(again, canon) {
			t.Fatalf("%s %q: not idempotent: %s -> %s (%v)", typ, in, canon, again, err)
		}
		if !typ.validJSON(canon) {
			t.Fatalf("%s %q: the read path refuses the stored %s", typ, in, canon)
		}
	})
}
