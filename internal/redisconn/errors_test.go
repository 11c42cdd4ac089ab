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
	f(context.Canceled, KindCanceled, false)
	f(&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, KindConnection, true)
	f(errors.New("redis: client is closed"), KindConnection, true)
	for _, k := range AllKinds {
		if k == "" {
			t.Fatal("empty kind")
		}
	}
}
