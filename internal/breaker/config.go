package breaker

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/tiercel/tiercel/internal/defaults"
)

// DefaultFailures is Config.Failures' default for every owner.
const DefaultFailures = 5

// Config tunes a breaker, as written under each owner's `breaker:` key.
// Zero fields take the owner's defaults (Or): Failures is 5 everywhere;
// Cooldown is 1s for the cache's and the rate limiter's Redis and 5s for
// upstream targets and features' dependencies, each owner's doc says which.
type Config struct {
	// Failures is how many consecutive failed calls open the breaker
	// (default 5). Negative disables the breaker: every call is made.
	Failures int `yaml:"failures"`

	// Cooldown is how long an open breaker refuses calls without making
	// them; then one probe call is let through (half-open), and the
	// breaker closes if it succeeds.
	Cooldown time.Duration `yaml:"cooldown"`
}

// Or returns c with its zero fields taken from def.
func (c Config) Or(def Config) Config {
	defaults.Set(&c.Failures, def.Failures)
	defaults.Set(&c.Cooldown, def.Cooldown)
	return c
}

// Validate reports every problem of c, each starting with path (the yaml
// path of c, such as "breaker") and the field's key.
func (c Config) Validate(path string) error {
	var errs []error
	if c.Failures > math.MaxUint32 {
		errs = append(errs, fmt.Errorf("%s.failures: must be at most %d", path, uint32(math.MaxUint32)))
	}
	if c.Cooldown < 0 {
		errs = append(errs, fmt.Errorf("%s.cooldown: must not be negative", path))
	}
	return errors.Join(errs...)
}
