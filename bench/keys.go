package bench

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
)

// Dist is how keys are drawn for the {key} placeholder.
type Dist string

// Key distributions.
const (
	// DistUniform draws every key with the same probability: a worst case
	// for a cache smaller than the key space.
	DistUniform Dist = "uniform"
	// DistZipf draws key k with probability ∝ 1/(k+1)^s: key 0 is the
	// hottest, as in real web traffic.
	DistZipf Dist = "zipf"
	// DistSeq walks 0, 1, …, Keys-1 and wraps, shared by all workers: every
	// key is touched once per lap, e.g. to fill a cache.
	DistSeq Dist = "seq"
)

func (d Dist) validate() error {
	switch d {
	case DistUniform, DistZipf, DistSeq:
		return nil
	}
	return fmt.Errorf("unknown key distribution %q (want uniform, zipf or seq)", string(d))
}

// keyPicker draws keys for one worker; it is not safe for concurrent use
// except for the shared seq counter.
type keyPicker struct {
	n    uint64
	dist Dist
	rng  *rand.Rand
	zipf *rand.Zipf
	seq  *atomic.Uint64 // shared by the workers of one run
}

func newKeyPicker(c Config, worker int, seq *atomic.Uint64) *keyPicker {
	p := &keyPicker{n: uint64(max(c.Keys, 1)), dist: c.Dist, seq: seq}
	p.rng = rand.New(rand.NewPCG(c.Seed, uint64(worker)))
	if c.Dist == DistZipf {
		p.zipf = rand.NewZipf(p.rng, c.ZipfS, 1, p.n-1)
	}
	return p
}

func (p *keyPicker) next() uint64 {
	switch p.dist {
	case DistZipf:
		return p.zipf.Uint64()
	case DistSeq:
		return (p.seq.Add(1) - 1) % p.n
	}
	return p.rng.Uint64N(p.n)
}

// urlTemplate is a URL split around its {key} placeholders, so a worker
// builds each request URL by appending into its own buffer.
type urlTemplate struct {
	parts [][]byte
}

const keyPlaceholder = "{key}"

func parseURLTemplate(url string, keys int) (urlTemplate, error) {
	parts := bytes.Split([]byte(url), []byte(keyPlaceholder))
	switch {
	case len(parts) > 1 && keys == 0:
		return urlTemplate{}, fmt.Errorf("url %q has %s but keys is 0", url, keyPlaceholder)
	case len(parts) == 1 && keys > 0:
		return urlTemplate{}, fmt.Errorf("keys is %d but url %q has no %s", keys, url, keyPlaceholder)
	}
	return urlTemplate{parts: parts}, nil
}

func (t urlTemplate) hasKey() bool { return len(t.parts) > 1 }

func (t urlTemplate) appendURL(dst []byte, key uint64) []byte {
	dst = append(dst, t.parts[0]...)
	for _, p := range t.parts[1:] {
		dst = strconv.AppendUint(dst, key, 10)
		dst = append(dst, p...)
	}
	return dst
}
