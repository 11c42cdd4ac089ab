package testwait

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

func TestUntilPollsUntilTheConditionHolds(t *testing.T) {
	var calls atomic.Int32
	if !Until(5*time.Second, func() bool { return calls.Add(1) == 3 }) {
		t.Fatal("Until gave up on a condition that held at the third poll")
	}
	if n := calls.Load(); n != 3 {
		t.Fatalf("cond called %d times, want 3", n)
	}
}

func TestUntilGivesUp(t *testing.T) {
	start := time.Now()
	if Until(20*time.Millisecond, func() bool { return false }) {
		t.Fatal("Until reported a condition that never held")
	}
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Fatalf("Until gave up after %v, before its deadline", d)
	}
}

// fatalTB records Fatalf instead of ending the test.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) { f.msg = fmt.Sprintf(format, args...) }

func TestForNamesWhatItAwaited(t *testing.T) {
	f := &fatalTB{TB: t}
	For(f, 10*time.Millisecond, "the sky to fall", func() bool { return false })
	if want := "timed out after 10ms waiting for the sky to fall"; f.msg != want {
		t.Fatalf("message %q, want %q", f.msg, want)
	}
	f.msg = ""
	For(f, 10*time.Millisecond, "nothing", func() bool { return true })
	if f.msg != "" {
		t.Fatalf("For failed on a condition that held: %q", f.msg)
	}
}
