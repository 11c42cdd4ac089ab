// Package testwait is how tests wait for something that happens on another
// goroutine or process: poll a condition with a deadline instead of
// sleeping for a guessed time. It must never be imported by non-test code.
package testwait

import (
	"testing"
	"time"
)

// The backoff between polls: short at first, since most conditions hold
// within milliseconds, and capped so that a condition that issues a
// request (an HTTP GET, a Redis call) does not hammer its target.
const (
	firstPause = time.Millisecond
	maxPause   = 10 * time.Millisecond
)

// For fails t unless cond holds within the given time. what names what is
// awaited, for the failure message ("timed out after 5s waiting for what").
func For(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Until(within, cond) {
		t.Fatalf("timed out after %v waiting for %s", within, what)
	}
}

// Until polls cond until it holds or within has passed, and reports
// whether it held: for callers that fail with a message of their own or
// have no testing.TB (TestMain).
func Until(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	pause := firstPause
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pause) // a polling interval, not synchronisation
		pause = min(2*pause, maxPause)
	}
	return true
}
