package ratelimit

import (
	"errors"
	"testing"
)

// TestUpdateKeepsUnchangedBuckets: a route still limited by the same,
// unchanged policy keeps its Handle and buckets; a changed policy or a
// route moved to another policy starts full; a dropped route's counts stay
// in Stats; an unknown policy changes nothing.
func TestUpdateKeepsUnchangedBuckets(t *testing.T) {
	small := Policy{Rate: 1, Burst: 2}
	l := newLimiter(t, Config{Policies: map[string]Policy{"small": small}}, nil)
	hs, err := l.Update(map[string]Policy{"small": small}, map[string]string{"a": "small", "b": "small", "c": "small"})
	if err != nil {
		t.Fatal(err)
	}
	key := []byte("alice")
	for _, r := range []string{"a", "b", "c"} {
		hs[r].Allow(t0, key, "")
		hs[r].Allow(t0, key, "")
		if hs[r].Allow(t0, key, "").Allowed {
			t.Fatalf("%s: a third request inside the burst", r)
		}
	}
	before := l.Stats()

	changed := map[string]Policy{"small": small, "other": {Rate: 1, Burst: 5}}
	if _, err := l.Update(changed, map[string]string{"a": "small", "b": "other", "x": "nope"}); !errors.Is(err, ErrUnknownPolicy) {
		t.Fatalf("unknown policy: %v", err)
	}
	next, err := l.Update(changed, map[string]string{"a": "small", "b": "other"})
	if err != nil {
		t.Fatal(err)
	}
	if next["a"] != hs["a"] || next["a"].Allow(t0, key, "").Allowed {
		t.Fatal("an unchanged route lost its bucket")
	}
	if next["b"] == hs["b"] || !next["b"].Allow(t0, key, "").Allowed {
		t.Fatal("a route moved to another policy kept its old bucket")
	}
	after := l.Stats()
	if after.Allowed < before.Allowed || after.Rejected < before.Rejected {
		t.Fatalf("Stats went down: %+v then %+v", before, after)
	}
	if h, err := l.Route("a", "small"); err != nil || h != next["a"] {
		t.Fatalf("Route after Update: %v", err)
	}
}
