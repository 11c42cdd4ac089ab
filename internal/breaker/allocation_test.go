//go:build !race

package breaker

import (
	"testing"
	"time"
)

// Do and Open are on the upstream and cache hot paths.
func TestAllocations(t *testing.T) {
	b := New(Config{Failures: 5, Cooldown: time.Second}, Options{})
	n := 0
	call := func() error { n++; return nil }
	f := func(name string, fn func()) {
		t.Helper()
		if a := testing.AllocsPerRun(100, fn); a != 0 {
			t.Errorf("%s allocates %.1f times, want 0", name, a)
		}
	}
	f("Do", func() { _ = b.Do(call) })
	f("Open", func() { _ = b.Open() })
	f("OpenAt", func() { _ = b.OpenAt(1) })
	var disabled *Breaker
	f("disabled Do", func() { _ = disabled.Do(call) })
}
