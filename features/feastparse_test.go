package features

import (
	"slices"
	"strings"
	"testing"
)

// TestParseFeastAsEncodingJSON: cases the fuzzer is unlikely to reach,
// where the hand parser must still answer as encoding/json decodes.
func TestParseFeastAsEncodingJSON(t *testing.T) {
	s := fuzzStore(t)
	nest := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	const ents = `"entities":{"user_id":["a"]}`
	f := func(body string, wantErr bool) {
		t.Helper()
		q, err := s.ParseFeast([]byte(body))
		wq, werr := parseFeastStd(s, []byte(body))
		if (err != nil) != wantErr || (werr != nil) != wantErr {
			t.Fatalf("%.80s: hand parser: %v, encoding/json: %v, want an error: %v", body, err, werr, wantErr)
		}
		if err != nil {
			if err.Error() != werr.Error() {
				t.Fatalf("%.80s: hand parser: %v\nencoding/json: %v", body, err, werr)
			}
			return
		}
		if !slices.Equal(q.Refs, wq.Refs) || q.FullFeatureNames != wq.FullFeatureNames {
			t.Fatalf("%.80s: hand parser: %q %v, encoding/json: %q %v", body, q.Refs, q.FullFeatureNames, wq.Refs, wq.FullFeatureNames)
		}
	}
	// encoding/json nests at most 10000 containers, the body's own included.
	f(`{"features":["user_stats:country"],`+ents+`,"request_context":`+nest(9999)+`}`, false)
	f(`{"features":["user_stats:country"],`+ents+`,"request_context":`+nest(10000)+`}`, true)
	// A repeated features list is decoded into the slice the one before
	// left: a null element keeps that slice's element.
	f(`{"features":["user_stats:clicks_7d","user_stats:country"],"features":["user_stats:clicks_7d"],`+
		`"features":[null,null],`+ents+`}`, false)
	f(`{"features":["user_stats:country"],"features":[],"features":[null],`+ents+`}`, true)
	f(`{"features":["user_stats:country"],"full_feature_names":true,"full_feature_names":null,`+ents+`}`, false)
	f(`{"features":["user_stats:country"],"full_feature_names":"true",`+ents+`}`, true)
	f(`{"features":"user_stats:country",`+ents+`}`, true)
	f(`{"features":["user_stats:country"],"feature_service":1,`+ents+`}`, true)
	f(`["user_stats:country"]`, true)
	f(`null`, true)
	f(``, true)
	f(`{"features":["user_stats:country"],`+ents+`}x`, true)
}

// TestParseNativeDepth: the native parser nests as deep as encoding/json
// does, counting the containers around an entity's value.
func TestParseNativeDepth(t *testing.T) {
	s := fuzzStore(t)
	for _, n := range []int{9997, 9998} {
		body := []byte(`{"features":["user_stats:country"],"entities":[{"user_id":"a","x":` +
			strings.Repeat("[", n) + strings.Repeat("]", n) + `}]}`)
		_, _, _, err := s.parseNative(body)
		_, _, _, werr := parseNativeStd(s, body)
		if codeOf(err) != codeOf(werr) {
			t.Fatalf("%d deep: hand parser: %.80v\nencoding/json: %.80v", n, err, werr)
		}
	}
}
