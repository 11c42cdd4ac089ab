package breaker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

var errDown = errors.New("down")

// The whole life: closed, open after Failures in a row, refusing for
// Cooldown, half-open for one probe, closed again on its success.
func TestBreakerCycle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var changes []string
		b := New(Config{Failures: 2, Cooldown: time.Second}, Options{
			OnStateChange: func(from, to State) { changes = append(changes, from.String()+">"+to.String()) },
		})
		calls := 0
		fail := func() error { calls++; return errDown }
		ok := func() error { calls++; return nil }
		f := func(call func() error, wantErr error, wantState State) {
			t.Helper()
			if err := b.Do(call); err != wantErr {
				t.Fatalf("Do = %v, want %v", err, wantErr)
			}
			if s := b.State(); s != wantState {
				t.Fatalf("State = %s, want %s", s, wantState)
			}
		}
		f(fail, errDown, Closed)
		f(ok, nil, Closed) // a success resets the run of failures
		f(fail, errDown, Closed)
		f(fail, errDown, Open)
		if !b.Open() || !b.OpenAt(time.Now().UnixNano()) {
			t.Fatal("Open = false right after tripping")
		}
		f(ok, ErrOpen, Open)
		if calls != 4 {
			t.Fatalf("%d calls made, want 4: an open breaker makes none", calls)
		}
		time.Sleep(time.Second + time.Millisecond) // fake time: the cooldown passes
		if b.Open() {
			t.Fatal("Open = true after the cooldown")
		}
		f(ok, nil, Closed)
		if got := strings.Join(changes, " "); got != "closed>open open>half-open half-open>closed" {
			t.Errorf("changes %q", got)
		}
	})
}

// A caller that left is neither a success nor a failure: it does not close
// a half-open breaker, nor trip a closed one. Exclude adds the owner's own.
func TestBreakerExcludes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		busy := errors.New("busy")
		b := New(Config{Failures: 1, Cooldown: time.Second}, Options{Exclude: func(err error) bool { return err == busy }})
		canceled := fmt.Errorf("cannot read: %w", context.Canceled)
		for _, err := range []error{canceled, busy} {
			if got := b.Do(func() error { return err }); got != err {
				t.Fatalf("Do = %v, want %v", got, err)
			}
		}
		if s := b.State(); s != Closed {
			t.Fatalf("State = %s after excluded errors, want closed", s)
		}
		_ = b.Do(func() error { return context.DeadlineExceeded }) // a timeout is a failure
		if s := b.State(); s != Open {
			t.Fatalf("State = %s after a deadline, want open", s)
		}
		time.Sleep(time.Second + time.Millisecond)
		_ = b.Do(func() error { return canceled }) // the probe's caller left
		if s := b.State(); s != HalfOpen {
			t.Fatalf("State = %s after a canceled probe, want half-open", s)
		}
	})
}

func TestTwoStep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewTwoStep(Config{Failures: 1, Cooldown: time.Second}, Options{})
		done, err := b.Allow()
		if err != nil {
			t.Fatal(err)
		}
		done(errDown)
		if _, err := b.Allow(); err != ErrOpen || b.State() != Open || !b.Open() {
			t.Fatalf("Allow = %v, State %s, want ErrOpen and open", err, b.State())
		}
		time.Sleep(time.Second + time.Millisecond)
		done, err = b.Allow()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Allow(); err != ErrOpen {
			t.Fatalf("second Allow while the probe is out = %v, want ErrOpen", err)
		}
		done(nil)
		if s := b.State(); s != Closed {
			t.Fatalf("State = %s, want closed", s)
		}
	})
}

func TestDisabled(t *testing.T) {
	cfg := Config{Failures: -1, Cooldown: time.Second}
	b, ts := New(cfg, Options{}), NewTwoStep(cfg, Options{})
	if b != nil || ts != nil {
		t.Fatal("a negative Failures must give nil breakers")
	}
	for range 10 {
		if err := b.Do(func() error { return errDown }); err != errDown {
			t.Fatalf("Do = %v", err)
		}
		done, err := ts.Allow()
		if err != nil {
			t.Fatal(err)
		}
		done(errDown)
	}
	if b.State() != Disabled || ts.State() != Disabled || b.Open() || ts.Open() || b.OpenAt(0) {
		t.Errorf("disabled breakers report %s, %s", b.State(), ts.State())
	}
}

func TestNewWithoutDefaultsPanics(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.HasPrefix(fmt.Sprint(r), "BUG:") {
			t.Errorf("recover() = %v, want a BUG panic", r)
		}
	}()
	New(Config{}, Options{})
}

func TestConfig(t *testing.T) {
	def := Config{Failures: DefaultFailures, Cooldown: time.Second}
	if got := (Config{}).Or(def); got != def {
		t.Errorf("Or = %+v", got)
	}
	if got := (Config{Failures: -1, Cooldown: time.Minute}).Or(def); got != (Config{Failures: -1, Cooldown: time.Minute}) {
		t.Errorf("Or overrode set fields: %+v", got)
	}
	f := func(c Config, want ...string) {
		t.Helper()
		err := c.Validate("cache.breaker")
		var got []string
		if err != nil {
			got = strings.Split(err.Error(), "\n")
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("Validate(%+v) = %q, want %q", c, got, want)
		}
	}
	f(Config{})
	f(Config{Failures: -1})
	f(Config{Failures: 3, Cooldown: time.Second})
	f(Config{Cooldown: -1}, "cache.breaker.cooldown: must not be negative")
	f(Config{Failures: 1 << 32, Cooldown: -time.Second},
		"cache.breaker.failures: must be at most 4294967295",
		"cache.breaker.cooldown: must not be negative")
}

func TestStateString(t *testing.T) {
	for s, want := range map[State]string{Closed: "closed", HalfOpen: "half-open", Open: "open", Disabled: "disabled", 9: "unknown"} {
		if s.String() != want {
			t.Errorf("%d.String() = %q, want %q", s, s.String(), want)
		}
	}
}
