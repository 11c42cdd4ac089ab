package ratelimit

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tiercel/tiercel/internal/testwait"
)

// t0 is the start of simulated time; tests move time by passing now.
var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// newLimiter returns a Limiter closed at the end of the test. TestMain
// checks that closed Limiters leave no goroutine behind.
func newLimiter(tb testing.TB, cfg Config, rdb redis.UniversalClient) *Limiter {
	tb.Helper()
	l, err := New(cfg, rdb, nil)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	tb.Cleanup(l.Close)
	return l
}

func mustRoute(tb testing.TB, l *Limiter, route, policy string) *Handle {
	tb.Helper()
	h, err := l.Route(route, policy)
	if err != nil {
		tb.Fatalf("Route(%q, %q): %v", route, policy, err)
	}
	return h
}

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if stacks, ok := leftBehind("ratelimit.(*Limiter)"); !ok {
			fmt.Fprintf(os.Stderr, "goroutines left behind by closed Limiters:\n%s", stacks)
			code = 1
		}
	}
	os.Exit(code)
}

// leftBehind polls until no goroutine's stack contains marker; abandoned
// Redis calls end asynchronously, after Close has returned.
func leftBehind(marker string) (stacks string, ok bool) {
	ok = testwait.Until(5*time.Second, func() bool {
		stacks = allStacks()
		return !strings.Contains(stacks, marker)
	})
	return stacks, ok
}

func allStacks() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}
