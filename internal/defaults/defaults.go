// Package defaults holds the one rule every config struct's withDefaults
// shares: a zero value stands for the documented default. It knows no config
// type and must never grow validation or policy: each package owns those.
package defaults

// Set replaces *v with def when *v is its type's zero value. Only the zero
// value is replaced: a negative count or timeout is left for Validate to
// reject, or for the owner to read as "off".
func Set[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}
