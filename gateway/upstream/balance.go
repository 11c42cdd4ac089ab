package upstream

import (
	"math"
	"time"
)

// triedSet remembers the targets one request has been sent to, so that a
// retry goes elsewhere. Attempts are bounded by 1+maxRetries, so it needs no
// allocation.
type triedSet struct {
	idx [1 + maxRetries]int
	n   int
}

func (s *triedSet) has(i int) bool {
	for _, j := range s.idx[:s.n] {
		if j == i {
			return true
		}
	}
	return false
}

func (s *triedSet) add(i int) {
	s.idx[s.n] = i
	s.n++
}

// pick returns the target for the next attempt, in order of preference:
// a passive pool's unhealthy target due for its trial, a healthy untried
// target, any untried target (all remaining ones are unhealthy, and trying
// beats certain failure), then, once all have been tried — a pool of one —
// the same choices again.
func (p *Pool) pick(tried *triedSet) *target {
	i := p.claimAnyTrial(tried)
	if i < 0 {
		i = p.choose(tried)
	}
	if i < 0 {
		tried.n = 0
		i = p.choose(tried)
	}
	tried.add(i)
	return p.targets[i]
}

func (p *Pool) claimAnyTrial(tried *triedSet) int {
	if p.health.active || p.unhealthy.Load() == 0 {
		return -1
	}
	for i, t := range p.targets {
		if !tried.has(i) && p.claimTrial(t) {
			return i
		}
	}
	return -1
}

func (p *Pool) choose(tried *triedSet) int {
	if i := p.balance(tried, true); i >= 0 {
		return i
	}
	return p.balance(tried, false)
}

// balance applies the policy to the untried targets, healthy ones only if
// healthyOnly, and returns -1 if none qualifies.
func (p *Pool) balance(tried *triedSet, healthyOnly bool) int {
	n := len(p.targets)
	start := int((p.next.Add(1) - 1) % uint64(n)) // targets[0] first
	var now int64
	if healthyOnly && p.openBreakers.Load() > 0 {
		now = time.Now().UnixNano()
	}
	best, bestLoad := -1, int64(math.MaxInt64)
	for k := range n {
		i := (start + k) % n
		t := p.targets[i]
		if tried.has(i) || healthyOnly && (!t.state.healthy.Load() || now != 0 && t.cb.OpenAt(now)) {
			continue
		}
		if !p.leastLoaded {
			return i
		}
		if load := t.inFlight.Load(); load < bestLoad {
			best, bestLoad = i, load
		}
	}
	return best
}
