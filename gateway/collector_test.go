package gateway

import "testing"

// TestSucceeded: an "ok" series never wraps, even when the failures were
// loaded after more attempts had failed.
func TestSucceeded(t *testing.T) {
	f := func(attempts, failed, want uint64) {
		t.Helper()
		if got := succeeded(attempts, failed); got != want {
			t.Fatalf("succeeded(%d, %d) = %d, want %d", attempts, failed, got, want)
		}
	}
	f(10, 3, 7)
	f(10, 10, 0)
	f(10, 11, 0)
	f(0, 0, 0)
}
