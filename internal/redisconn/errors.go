package redisconn

import (
	"context"
	"errors"
	"net"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Kinds of command errors, the values of Kind and of the metric label.
// Reply kinds are Redis' own error prefixes, lower-cased.
const (
	KindTimeout    = "timeout"    // the deadline ran out (context or socket)
	KindCanceled   = "canceled"   // the caller left; not Redis' doing
	KindConnection = "connection" // refused, reset, closed, pool exhausted
	KindOther      = "other"      // an error reply of another kind
)

// replyKinds are the error replies counted under their own name. The
// first group says the node cannot serve this key now: a failure for
// breakers and readiness. The second is the caller's or the data's
// fault (a key of the wrong type, a script error): Redis is there.
var replyKinds = map[string]bool{
	"CROSSSLOT": true, "MOVED": true, "ASK": true, "TRYAGAIN": true,
	"CLUSTERDOWN": true, "READONLY": true, "LOADING": true, "MASTERDOWN": true,
	"NOSCRIPT": true, "BUSY": true, "OOM": true, "NOREPLICAS": true,
	"NOAUTH": true, "WRONGPASS": true, "NOPERM": true,

	"WRONGTYPE": false, "ERR": false, "EXECABORT": false,
}

// AllKinds lists every value Kind can return, for exporters that want
// every series present from the start.
var AllKinds = func() []string {
	out := []string{KindTimeout, KindCanceled, KindConnection, KindOther}
	for k := range replyKinds {
		out = append(out, strings.ToLower(k))
	}
	return out
}()

// Kind names what err is: "" for no error and for a missing key
// (redis.Nil), else one of AllKinds.
func Kind(err error) string {
	if err == nil || errors.Is(err, redis.Nil) {
		return ""
	}
	var re redis.Error
	if errors.As(err, &re) {
		if k, ok := replyPrefix(re.Error()); ok {
			return strings.ToLower(k)
		}
		return KindOther
	}
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return KindCanceled
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return KindTimeout
	}
	return KindConnection
}

// replyPrefix returns the known kind an error reply starts with.
func replyPrefix(msg string) (string, bool) {
	word, _, _ := strings.Cut(msg, " ")
	if _, ok := replyKinds[word]; ok {
		return word, true
	}
	return "", false
}

// Failure is err as a breaker sees it, the one rule for every Redis
// breaker: nil when Redis answered (a missing key, a data error such as
// WRONGTYPE, a script's own error); err when it could not be reached in
// time (a deadline hit during the call is Redis' failure) or answered that
// it cannot serve the key now (CROSSSLOT, a MOVED that could not be
// followed, CLUSTERDOWN, READONLY, LOADING, NOSCRIPT that reloading did
// not cure, ...). A caller that left (context.Canceled, however deep in
// the chain) stays an error too, which every breaker excludes
// (internal/breaker): as nil it would count as a success, and close a
// half-open breaker on a probe nobody waited for.
func Failure(err error) error {
	if err == nil || errors.Is(err, redis.Nil) {
		return nil
	}
	var re redis.Error
	if errors.As(err, &re) {
		if k, ok := replyPrefix(re.Error()); ok && replyKinds[k] {
			return err
		}
		return nil
	}
	return err
}

// PipelineFailure is a pipeline's verdict by Failure's rule: err (Exec's
// error) when it is a failure, else the first command's failure, else nil.
// Exec answers the first failed command's error, which is redis.Nil when
// that command's key is missing: a MOVED or CROSSSLOT later in the
// pipeline (on a cluster, each shard answers for its own commands) hides
// behind it.
func PipelineFailure(cmds []redis.Cmder, err error) error {
	if err == nil {
		return nil
	}
	if f := Failure(err); f != nil {
		return f
	}
	for _, c := range cmds {
		if f := Failure(c.Err()); f != nil {
			return f
		}
	}
	return nil
}

// SingleNode reports whether every key of rdb lives on one server (a
// single node, or the primary a Sentinel names), so that one MGET or one
// script may touch keys of any slot.
func SingleNode(rdb redis.UniversalClient) bool {
	_, ok := rdb.(*redis.Client)
	return ok
}
