package bench

import (
	"sync/atomic"
	"testing"
)

func drawKeys(t *testing.T, cfg Config, draws int) []int {
	t.Helper()
	var seq atomic.Uint64
	p := newKeyPicker(cfg.withDefaults(), 0, &seq)
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

	zipf := drawKeys(t, Config{Keys: keys, Dist: DistZipf, ZipfS: 1.1}, draws)
	if zipf[0] < 10*share || zipf[0] <= zipf[keys-1] {
		t.Errorf("zipf: top key %d, last %d, uniform share %d: want a heavy head", zipf[0], zipf[keys-1], share)
	}

	uniform := drawKeys(t, Config{Keys: keys, Dist: DistUniform}, draws)
	for k, n := range uniform {
		if n < share/2 || n > 2*share {
			t.Errorf("uniform: key %d drawn %d times, want ≈%d", k, n, share)
		}
	}

	seq := drawKeys(t, Config{Keys: keys, Dist: DistSeq}, 3*keys)
	for k, n := range seq {
		if n != 3 {
			t.Errorf("seq: key %d drawn %d times over 3 laps, want 3", k, n)
		}
	}
}

func TestURLTemplate(t *testing.T) {
	f := func(url string, keys int, key uint64, want string) {
		t.Helper()
		tmpl, err := parseURLTemplate(url, keys)
		if err != nil {
			t.Fatalf("parse %q: %v", url, err)
		}
		if got := string(tmpl.appendURL(nil, key)); got != want {
			t.Errorf("%q with key %d = %q, want %q", url, key, got, want)
		}
	}
	f("http://h/a", 0, 7, "http://h/a")
	f("http://h/k/{key}", 10, 7, "http://h/k/7")
	f("http://h/{key}?v={key}", 100, 42, "http://h/42?v=42")

	for _, bad := range []struct {
		url  string
		keys int
	}{{"http://h/{key}", 0}, {"http://h/", 5}} {
		if _, err := parseURLTemplate(bad.url, bad.keys); err == nil {
			t.Errorf("parse %q with %d keys: want an error", bad.url, bad.keys)
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
