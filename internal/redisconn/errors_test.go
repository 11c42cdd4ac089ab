package redisconn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/redis/go-redis/v9"
)

// replyErr is an error reply as go-redis returns it (redis.Error).
type replyErr string

func (e replyErr) Error() string { return string(e) }
func (replyErr) RedisError()     {}

func TestKindAndFailure(t *testing.T) {
	f := func(err error, kind string, failure bool) {
		t.Helper()
		if got := Kind(err); got != kind {
			t.Errorf("Kind(%v) = %q, want %q", err, got, kind)
		}
		if got := Failure(err) != nil; got != failure {
			t.Errorf("Failure(%v) = %v, want %v", err, got, failure)
		}
	}
	f(nil, "", false)
	f(redis.Nil, "", false)
	f(fmt.Errorf("wrapped: %w", redis.Nil), "", false)
	f(replyErr("CROSSSLOT Keys in request don't hash to the same slot"), "crossslot", true)
	f(replyErr("MOVED 13945 127.0.0.1:7002"), "moved", true)
	f(replyErr("ASK 13945 127.0.0.1:7002"), "ask", true)
	f(replyErr("CLUSTERDOWN The cluster is down"), "clusterdown", true)
	f(replyErr("READONLY You can't write against a read only replica."), "readonly", true)
	f(replyErr("LOADING Redis is loading the dataset in memory"), "loading", true)
	f(replyErr("NOSCRIPT No matching script. Please use EVAL."), "noscript", true)
	f(replyErr("TRYAGAIN Multiple keys request during rehashing of slot"), "tryagain", true)
	f(replyErr("WRONGTYPE Operation against a key holding the wrong kind of value"), "wrongtype", false)
	f(replyErr("ERR Error running script"), "err", false)
	f(replyErr("SOMETHINGNEW happened"), KindOther, false)
	f(context.DeadlineExceeded, KindTimeout, true)
	f(fmt.Errorf("read: %w", context.DeadlineExceeded), KindTimeout, true)
	f(&net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, KindTimeout, true)
	// The caller left: an error still, which breakers exclude, never a
	// success that would close a half-open breaker; at any depth.
	f(context.Canceled, KindCanceled, true)
	f(fmt.Errorf("pipeline: %w", &net.OpError{Op: "dial", Err: context.Canceled}), KindCanceled, true)
	f(&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, KindConnection, true)
	f(errors.New("redis: client is closed"), KindConnection, true)
	for _, k := range AllKinds {
		if k == "" {
			t.Fatal("empty kind")
		}
	}
}

func TestPipelineFailure(t *testing.T) {
	cmd := func(err error) redis.Cmder {
		c := redis.NewStringCmd(context.Background(), "get", "k")
		c.SetErr(err)
		return c
	}
	moved := replyErr("MOVED 13945 127.0.0.1:7002")
	wrongType := replyErr("WRONGTYPE Operation against a key holding the wrong kind of value")
	f := func(cmds []redis.Cmder, err, want error) {
		t.Helper()
		if got := PipelineFailure(cmds, err); got != want {
			t.Errorf("PipelineFailure(%v, %v) = %v, want %v", cmds, err, got, want)
		}
	}
	f(nil, nil, nil)
	f([]redis.Cmder{cmd(nil), cmd(nil)}, nil, nil)
	// Exec answers the first command's redis.Nil; the MOVED behind it is
	// the verdict.
	f([]redis.Cmder{cmd(redis.Nil), cmd(moved)}, redis.Nil, moved)
	f([]redis.Cmder{cmd(redis.Nil), cmd(wrongType)}, redis.Nil, nil)
	f([]redis.Cmder{cmd(context.DeadlineExceeded)}, context.DeadlineExceeded, context.DeadlineExceeded)
	f([]redis.Cmder{cmd(context.Canceled)}, context.Canceled, context.Canceled)
	// No commands to look at: Exec's own error.
	f(nil, context.DeadlineExceeded, context.DeadlineExceeded)
}
