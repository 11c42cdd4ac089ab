package features

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tiercel/tiercel/internal/testwait"
)

// Close stops every goroutine the Store started (the last-good writer).
func TestCloseLeavesNoGoroutines(t *testing.T) {
	e := newEnv(t, predictRegistry("http://127.0.0.1:1", "1", nil))
	s, err := New(predictRegistry("http://127.0.0.1:1", "1", nil), Options{Redis: e.rdb, Cache: e.c})
	if err != nil {
		t.Fatal(err)
	}
	pushUser(t, e, "u1", time.Now())
	if _, err := s.Predict(context.Background(), "churn", &PredictRequest{JoinKeys: []string{"user_id"}, Rows: [][]string{{"u1"}}}); err != nil {
		t.Fatal(err)
	}
	if s.lg.writes == nil {
		t.Fatal("no last-good writer running")
	}
	// The env's own Store and cache run batch loops too: this Store's
	// Close ends one, its last-good writer.
	loops := func() int { return strings.Count(stacks(), "internal/batch.(*Loop[...]).run") }
	n := loops()
	s.Close()
	testwait.For(t, 5*time.Second, "the Store's goroutines to end", func() bool { return loops() == n-1 })
}

func stacks() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}
