package bench

import (
	"fmt"
	"math/rand/v2"
	"sync/atomic"
)

// kind is one request kind of a run, shared by its workers.
type kind struct {
	req       Request
	url, body keyTemplate
	seq       atomic.Uint64 // the seq distribution's shared position
	cumWeight float64       // weights of kinds [0, i] summed, for drawing
}

// newKinds prepares the run's request kinds, all of which must target the
// same host as the first (one client serves them all).
func newKinds(reqs []Request) ([]*kind, error) {
	kinds := make([]*kind, len(reqs))
	var sum float64
	for i, r := range reqs {
		url, body, err := parseRequestTemplates(r)
		if err != nil {
			return nil, err
		}
		sum += r.Weight
		kinds[i] = &kind{req: r, url: url, body: body, cumWeight: sum}
	}
	if sum <= 0 {
		return nil, fmt.Errorf("request weights sum to %v", sum)
	}
	return kinds, nil
}

// mix draws a worker's request kinds by weight.
type mix struct {
	kinds []*kind
	rng   *rand.Rand
}

func (m *mix) pick() int {
	if len(m.kinds) == 1 {
		return 0
	}
	x := m.rng.Float64() * m.kinds[len(m.kinds)-1].cumWeight
	for i, k := range m.kinds {
		if x < k.cumWeight {
			return i
		}
	}
	return len(m.kinds) - 1
}
