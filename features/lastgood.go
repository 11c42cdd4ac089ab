package features

import (
	"fmt"

	"github.com/dgraph-io/ristretto/v2"
)

// lastGood remembers each entity's last good prediction per model, for
// when the model is down. It is in process only: a replica that never
// predicted for an entity has nothing to fall back on but the default.
// Keyed by model name, not version: during a failed rollout the previous
// version's answer is the best stale one there is.
type lastGood struct {
	c *ristretto.Cache[string, float64]
}

const lastGoodMax = 1 << 20 // entities; ~100 bytes each

func newLastGood() (*lastGood, error) {
	c, err := ristretto.NewCache(&ristretto.Config[string, float64]{
		NumCounters: 10 * lastGoodMax, MaxCost: lastGoodMax, BufferItems: 64,
	})
	if err != nil {
		return nil, fmt.Errorf("cannot create last-good cache: %w", err)
	}
	return &lastGood{c: c}, nil
}

func (l *lastGood) set(model, entity string, v float64) { l.c.Set(model+"\x00"+entity, v, 1) }

func (l *lastGood) get(model, entity string) (float64, bool) { return l.c.Get(model + "\x00" + entity) }

// wait makes earlier sets visible (ristretto sets are asynchronous).
func (l *lastGood) wait() { l.c.Wait() }

func (l *lastGood) close() { l.c.Close() }
