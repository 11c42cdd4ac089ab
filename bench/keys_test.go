package bench

import (
	"sync/atomic"
	"testing"
)

func drawKeys(t *testing.T, r Request, draws int) []int {
	t.Helper()
	var seq atomic.Uint64
	p := newKeyPicker(r.withDefaults(), 0, 0, 1, &seq)
	cfg := r
	hits := make([]int, cfg.Keys)
	for range draws {
		k := p.next()
		if k >= uint64(cfg.Keys) {
			t.Fatalf("key %d out of [0, %d)", k, cfg.Keys)
		}
		hits[k]++
	}
	return hits
}

func TestKeyDistributions(t *testing.T) {
	const keys, draws = 100, 100_000
	share := draws / keys

	zipf := drawKeys(t, Request{Keys: keys, Dist: DistZipf, ZipfS: 1.1}, draws)
	if zipf[0] < 10*share || zipf[0] <= zipf[keys-1] {
		t.Errorf("zipf: top key %d, last %d, uniform share %d: want a heavy head", zipf[0], zipf[keys-1], share)
	}

	uniform := drawKeys(t, Request{Keys: keys, Dist: DistUniform}, draws)
	for k, n := range uniform {
		if n < share/2 || n > 2*share {
			t.Errorf("uniform: key %d drawn %d times, want ≈%d", k, n, share)
		}
	}

	seq := drawKeys(t, Request{Keys: keys, Dist: DistSeq}, 3*keys)
	for k, n := range seq {
		if n != 3 {
			t.Errorf("seq: key %d drawn %d times over 3 laps, want 3", k, n)
		}
	}
}

func TestKeyBase(t *testing.T) {
	var seq atomic.Uint64
	p := newKeyPicker(Request{Keys: 3, KeyBase: 1, Dist: DistSeq}.withDefaults(), 0, 0, 1, &seq)
	for _, want := range []uint64{1, 2, 3, 1} {
		if got := p.next(); got != want {
			t.Fatalf("next = %d, want %d", got, want)
		}
	}
}

func TestTemplates(t *testing.T) {
	f := func(url string, keys int, key uint64, want string) {
		t.Helper()
		u, _, err := parseRequestTemplates(Request{URL: url, Keys: keys})
		if err != nil {
			t.Fatalf("parse %q: %v", url, err)
		}
		if got := string(u.appendSame(nil, key)); got != want {
			t.Errorf("%q with key %d = %q, want %q", url, key, got, want)
		}
	}
	f("http://h/a", 0, 7, "http://h/a")
	f("http://h/k/{key}", 10, 7, "http://h/k/7")
	f("http://h/{key}?v={key}", 100, 42, "http://h/42?v=42")

	// In a body every placeholder draws its own key.
	var seq atomic.Uint64
	p := newKeyPicker(Request{Keys: 10, Dist: DistSeq}.withDefaults(), 0, 0, 1, &seq)
	_, body, err := parseRequestTemplates(Request{URL: "http://h/", Body: `[{key},{key},{key}]`, Keys: 10})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(body.appendDrawn(nil, p)); got != "[0,1,2]" {
		t.Errorf("body = %s, want [0,1,2]", got)
	}

	for _, bad := range []Request{
		{URL: "http://h/{key}"},
		{URL: "http://h/", Keys: 5},
		{URL: "http://h/", Body: "{key}"},
	} {
		if _, _, err := parseRequestTemplates(bad); err == nil {
			t.Errorf("parse %+v: want an error", bad)
		}
	}
}

func TestParseHeader(t *testing.T) {
	h, err := ParseHeader("Authorization:  Bearer abc ")
	if err != nil || h != (Header{"Authorization", "Bearer abc"}) {
		t.Errorf("got %+v, %v", h, err)
	}
	if _, err := ParseHeader("no colon"); err == nil {
		t.Error("want an error for a header without a colon")
	}
}
