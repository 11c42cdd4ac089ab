package invalidation

import "sync"

// history is what this replica remembers of the events it applied: their
// ids (dedup) and the highest source_version per target (ordering). Both
// are bounded; forgetting costs at most a repeated, idempotent apply.
type history struct {
	mu       sync.Mutex
	ids      bounded[struct{}]
	versions bounded[int64]
}

func newHistory(ids, versions int) *history {
	return &history{ids: newBounded[struct{}](ids), versions: newBounded[int64](versions)}
}

// admit decides whether ev is applied: it returns ev, or a copy without the
// targets on which a newer source_version was applied, or a skip reason.
// It records the id and versions at once (not after Apply), so that of two
// partitions racing with events for one target, the older one is the one
// ignored. Events for one target normally share a partition (the message
// key), which is what orders them; this only covers multi-target events.
func (h *history) admit(ev *Event) (*Event, Reason) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, dup := h.ids.get(ev.ID); dup {
		return nil, ReasonDuplicate
	}
	if ev.SourceVersion > 0 {
		older := func(target string) bool {
			v, ok := h.versions.get(target)
			return ok && v > ev.SourceVersion
		}
		stale := 0
		ev.targets(func(t string) {
			if older(t) {
				stale++
			}
		})
		if stale == ev.numTargets() {
			return nil, ReasonStale
		}
		if stale > 0 {
			ev = ev.keep(func(t string) bool { return !older(t) })
		}
		ev.targets(func(t string) { h.versions.put(t, ev.SourceVersion) })
	}
	h.ids.put(ev.ID, struct{}{})
	return ev, ""
}

// forget drops id after its Apply failed for good, so that a replay or a
// redelivery may apply it.
func (h *history) forget(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ids.delete(id)
}

// bounded is a map that forgets its oldest insertions beyond a size.
type bounded[V any] struct {
	m    map[string]V
	ring []string // insertion order; ring[next] is the oldest once full
	next int
}

func newBounded[V any](size int) bounded[V] {
	return bounded[V]{m: make(map[string]V), ring: make([]string, 0, size)}
}

func (b *bounded[V]) get(k string) (V, bool) {
	v, ok := b.m[k]
	return v, ok
}

func (b *bounded[V]) put(k string, v V) {
	if _, ok := b.m[k]; !ok {
		if len(b.ring) < cap(b.ring) {
			b.ring = append(b.ring, k)
		} else {
			// A deleted or re-inserted key may go early: only costs a
			// repeated, idempotent apply.
			delete(b.m, b.ring[b.next])
			b.ring[b.next] = k
			b.next = (b.next + 1) % len(b.ring)
		}
	}
	b.m[k] = v
}

func (b *bounded[V]) delete(k string) { delete(b.m, k) }
