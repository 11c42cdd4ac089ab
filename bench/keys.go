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

// keyPicker draws keys for one worker and one request kind; it is not
// safe for concurrent use except for the shared seq counter.
type keyPicker struct {
	n    uint64
	base uint64
	dist Dist
	rng  *rand.Rand
	zipf *rand.Zipf
	seq  *atomic.Uint64 // shared by the workers of one run
}

func newKeyPicker(r Request, worker, kind int, seed uint64, seq *atomic.Uint64) *keyPicker {
	p := &keyPicker{n: uint64(max(r.Keys, 1)), base: uint64(r.KeyBase), dist: r.Dist, seq: seq}
	p.rng = rand.New(rand.NewPCG(seed, uint64(worker)<<16|uint64(kind)))
	if r.Dist == DistZipf {
		p.zipf = rand.NewZipf(p.rng, r.ZipfS, 1, p.n-1)
	}
	return p
}

func (p *keyPicker) next() uint64 {
	switch p.dist {
	case DistZipf:
		return p.base + p.zipf.Uint64()
	case DistSeq:
		return p.base + (p.seq.Add(1)-1)%p.n
	}
	return p.base + p.rng.Uint64N(p.n)
}

// keyTemplate is a URL or body split around its {key} placeholders, so a
// worker builds each request by appending into its own buffer.
type keyTemplate struct {
	parts [][]byte
}

const keyPlaceholder = "{key}"

func parseTemplate(s string) keyTemplate {
	return keyTemplate{parts: bytes.Split([]byte(s), []byte(keyPlaceholder))}
}

// parseRequestTemplates splits r's URL and body, and checks that keys are
// drawn exactly when something uses them.
func parseRequestTemplates(r Request) (url, body keyTemplate, err error) {
	url, body = parseTemplate(r.URL), parseTemplate(r.Body)
	switch {
	case (url.hasKey() || body.hasKey()) && r.Keys == 0:
		return url, body, fmt.Errorf("url %q or body has %s but keys is 0", r.URL, keyPlaceholder)
	case !url.hasKey() && !body.hasKey() && r.Keys > 0:
		return url, body, fmt.Errorf("keys is %d but neither url %q nor body has %s", r.Keys, r.URL, keyPlaceholder)
	}
	return url, body, nil
}

func (t keyTemplate) hasKey() bool { return len(t.parts) > 1 }

// appendSame appends t with every placeholder replaced by key.
func (t keyTemplate) appendSame(dst []byte, key uint64) []byte {
	dst = append(dst, t.parts[0]...)
	for _, p := range t.parts[1:] {
		dst = strconv.AppendUint(dst, key, 10)
		dst = append(dst, p...)
	}
	return dst
}

// appendDrawn appends t with each placeholder replaced by its own key.
func (t keyTemplate) appendDrawn(dst []byte, keys *keyPicker) []byte {
	dst = append(dst, t.parts[0]...)
	for _, p := range t.parts[1:] {
		dst = strconv.AppendUint(dst, keys.next(), 10)
		dst = append(dst, p...)
	}
	return dst
}
