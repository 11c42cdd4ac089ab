package cache

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/tiercel/tiercel/internal/redisconn"
)

// Reads on a Redis Cluster: one script per master per batch. MGET cannot
// span slots, and a pipeline of GETs costs Redis a command and a reply per
// key, and the client a command object per key. A script that declares one
// key runs on the master serving that key's slot, and with
// allow-cross-slot-keys it may read keys of other slots named in ARGV, as
// long as that node serves them: Redis checks each call the script makes
// ("non local key" otherwise). So the batcher groups a batch's keys by
// master, from the client's slot map (no round trip), and sends each master
// one EVALSHA, all in one pipeline: one command and one array reply per
// master, read as readMGet reads its MGET.
//
// Redis, not the grouping, guarantees that a script reads only keys its
// node serves. When the map is stale (a resharding, a failover) the script
// fails, and its lookups are read again as the pipeline of GETs, which
// follows MOVED and ASK; the error replies reach redisconn's hook, which
// reloads the map. Either way a lookup reads its entry and generations
// once, from the masters that serve them, in one round trip per master:
// the fencing of l2.go is unchanged.

// mgetLua reads KEYS[1], then each ARGV key, like MGET: "" for a missing
// key (StringSliceCmd reads MGET's nils so, and no entry or generation is
// empty), so that a missing key leaves no hole in the reply.
const mgetLua = `#!lua flags=no-writes,allow-cross-slot-keys
local v = {redis.call('GET', KEYS[1]) or ''}
for i = 1, #ARGV do v[i + 1] = redis.call('GET', ARGV[i]) or '' end
return v`

var mgetSHA = func() string {
	h := sha1.Sum([]byte(mgetLua))
	return hex.EncodeToString(h[:])
}()

// scriptScratch is readScripted's memory, reused from batch to batch.
type scriptScratch struct {
	masters []*redis.Client        // group g reads from masters[g]
	loaded  map[*redis.Client]bool // masters that ran mgetLua: EVALSHA, else EVAL
	group   []int                  // per key of the batch, in batch order: its group
	at      []int                  // per key: its place in its group's reply
	starts  []int                  // group g's keys are keys[starts[g]:starts[g+1]]
	keys    []string               // the batch's keys, group by group
	args    []any
	cmds    []*redis.StringSliceCmd // one per group
	queued  []redis.Cmder
	errs    []error // per group: why it failed; errScriptRetry: read by GETs
	vals    []string
	retry   []*l2Lookup
}

// errScriptRetry marks a group whose script failed in a way a pipeline of
// GETs may not: its keys moved, or the node cannot run the script.
var errScriptRetry = errors.New("l2 script: read by GETs")

// readScripted answers live with one script per master (see above); the
// lookups a script could not answer go through readPipelined.
func (l *l2) readScripted(live []*l2Lookup, s *readScratch) {
	if s.script == nil {
		s.script = &scriptScratch{loaded: map[*redis.Client]bool{}}
	}
	ss := s.script
	l.batchKeys(live, s)
	if !l.groupByMaster(string(s.buf), s.ends, ss) {
		l.readPipelined(live, s) // no slot map: let the GETs report why
		return
	}
	defer ss.clear()
	l.queueScripts(ss)
	err := l.do(l.timeout, func(ctx context.Context) error { return l.runScripts(ctx, ss) })
	if errors.Is(err, errL2Skipped) {
		for _, lk := range live {
			lk.answer(err)
		}
		return
	}
	l.answerScripted(live, ss)
	if len(ss.retry) > 0 {
		l.scriptRetries.Add(uint64(len(ss.retry)))
		l.readPipelined(ss.retry, s)
	}
}

// groupByMaster groups the keys of all (ending at ends) by the master the
// client's slot map names for them. It reports false when the client has
// no slot map.
func (l *l2) groupByMaster(all string, ends []int, ss *scriptScratch) bool {
	ctx := context.Background()
	masters, group, at, counts := ss.masters[:0], ss.group[:0], ss.at[:0], ss.starts[:0]
	start := 0
	for _, end := range ends {
		m, err := l.cluster.MasterForKey(ctx, all[start:end])
		if err != nil {
			clear(masters)
			ss.masters = masters[:0]
			return false
		}
		g := slices.Index(masters, m)
		if g < 0 {
			g, masters, counts = len(masters), append(masters, m), append(counts, 0)
		}
		group, at = append(group, g), append(at, counts[g])
		counts[g]++
		start = end
	}
	// counts become starts, in place.
	starts, sum := append(counts, 0), 0
	for g := range masters {
		starts[g], sum = sum, sum+starts[g]
	}
	starts[len(masters)] = sum
	keys := slices.Grow(ss.keys[:0], len(ends))[:len(ends)]
	start = 0
	for i, end := range ends {
		keys[starts[group[i]]+at[i]] = all[start:end]
		start = end
	}
	ss.masters, ss.group, ss.at, ss.starts, ss.keys = masters, group, at, starts, keys
	return true
}

// queueScripts builds each group's command: EVALSHA, or EVAL where the
// master has not run the script yet (so that a fresh start costs no
// NOSCRIPT, which redisconn would count as a failure).
func (l *l2) queueScripts(ss *scriptScratch) {
	args := slices.Grow(ss.args[:0], 3*len(ss.masters)+len(ss.keys))
	for g := range ss.masters {
		args = append(args, "evalsha", mgetSHA, "1")
		for i := ss.starts[g]; i < ss.starts[g+1]; i++ {
			args = append(args, &ss.keys[i])
		}
	}
	ss.args = args
	ss.cmds, ss.errs = ss.cmds[:0], ss.errs[:0]
	for g, m := range ss.masters {
		ss.cmds = append(ss.cmds, ss.scriptCmd(g, !ss.loaded[m]))
		ss.errs = append(ss.errs, nil)
	}
}

// scriptCmd returns group g's command over its part of ss.args, sending
// the script whole when eval.
func (ss *scriptScratch) scriptCmd(g int, eval bool) *redis.StringSliceCmd {
	a, b := 3*g+ss.starts[g], 3*(g+1)+ss.starts[g+1]
	if eval {
		ss.args[a], ss.args[a+1] = "eval", mgetLua
	} else {
		ss.args[a], ss.args[a+1] = "evalsha", mgetSHA
	}
	return redis.NewStringSliceCmd(context.Background(), ss.args[a:b:b]...)
}

// runScripts sends every group's script in one pipeline (go-redis sends
// each master its part concurrently), and once more as EVAL to a master
// that answered NOSCRIPT (SCRIPT FLUSH, a restart). It sets ss.errs and
// returns the first failure (redisconn.Failure) among groups whose error
// a pipeline of GETs would meet too; the others are read again.
func (l *l2) runScripts(ctx context.Context, ss *scriptScratch) error {
	queued := ss.queued[:0]
	for _, c := range ss.cmds {
		queued = append(queued, c)
	}
	l.execScripts(ctx, queued)
	queued = queued[:0]
	for g, c := range ss.cmds {
		if redisconn.Kind(c.Err()) == "noscript" {
			ss.cmds[g] = ss.scriptCmd(g, true)
			queued = append(queued, ss.cmds[g])
		}
	}
	if len(queued) > 0 {
		l.execScripts(ctx, queued)
	}
	clear(queued)
	ss.queued = queued[:0]
	var failure error
	for g, c := range ss.cmds {
		err := c.Err()
		switch {
		case err == nil && len(c.Val()) != ss.starts[g+1]-ss.starts[g]:
			err = fmt.Errorf("mget script answered %d values for %d keys", len(c.Val()), ss.starts[g+1]-ss.starts[g])
		case err == nil:
			ss.loaded[ss.masters[g]] = true
		case scriptRefused(err):
			if l.scriptOff.CompareAndSwap(false, true) {
				l.log.Warn("cache l2: redis refused the read script, reading by pipelines of GETs from now on", "error", err.Error())
			}
			err = errScriptRetry
		case scriptRetry(err):
			err = errScriptRetry
		case failure == nil:
			failure = redisconn.Failure(err)
		}
		ss.errs[g] = err
	}
	return failure
}

// execScripts sends cmds in one cluster pipeline; each keeps its error.
func (l *l2) execScripts(ctx context.Context, cmds []redis.Cmder) {
	pipe := l.cluster.Pipeline()
	_ = pipe.BatchProcess(ctx, cmds...) // queues; its error is Exec's
	_, _ = pipe.Exec(ctx)
}

// scriptRefused reports an error saying this Redis cannot run mgetLua at
// all: older than 7.0 (no shebang), scripting forbidden by ACL or renamed.
func scriptRefused(err error) bool {
	switch redisconn.Kind(err) {
	case "noperm":
		return true
	case "err", redisconn.KindOther:
		msg := err.Error()
		return strings.Contains(msg, "shebang") || strings.Contains(msg, "compiling script") ||
			strings.Contains(msg, "unknown command")
	}
	return false
}

// scriptRetry reports a script error that GETs may not meet: the keys are
// not all served by the node the script ran on (MOVED or ASK not followed,
// "non local key" after following one), NOSCRIPT again, or any other
// reply about the script itself. A transport error, a timeout, or a node
// that cannot serve any read now (CLUSTERDOWN, LOADING, ...) would fail
// GETs alike.
func scriptRetry(err error) bool {
	var re redis.Error
	if !errors.As(err, &re) {
		return false
	}
	switch redisconn.Kind(err) {
	case "clusterdown", "loading", "masterdown", "busy", "noauth", "wrongpass":
		return false
	}
	return true
}

// answerScripted answers each lookup whose keys' groups all answered,
// from their replies; a lookup with a failed group gets its error; the
// others go to ss.retry.
func (l *l2) answerScripted(live []*l2Lookup, ss *scriptScratch) {
	// One slab for the batch's tag generations, as in readMGet.
	gens := make([]uint64, len(ss.keys)-2*len(live))
	retry, key := ss.retry[:0], 0
	for _, lk := range live {
		n := 2 + len(lk.tags)
		tagGens := gens[:len(lk.tags):len(lk.tags)]
		gens = gens[len(lk.tags):]
		vals, err := ss.vals[:0], error(nil)
		for i := key; i < key+n; i++ {
			g := ss.group[i]
			if e := ss.errs[g]; e != nil {
				if err == nil || err == errScriptRetry {
					err = e
				}
				continue
			}
			vals = append(vals, ss.cmds[g].Val()[ss.at[i]])
		}
		key += n
		ss.vals = vals
		switch {
		case err == errScriptRetry:
			retry = append(retry, lk)
		case err != nil:
			lk.answer(err)
		default:
			lk.answerStrings(vals, tagGens)
		}
	}
	ss.retry = retry
}

// clear drops the batch's references (keys, replies) for the GC.
func (ss *scriptScratch) clear() {
	clear(ss.masters)
	clear(ss.keys)
	clear(ss.args)
	clear(ss.cmds)
	clear(ss.errs)
	clear(ss.vals[:cap(ss.vals)])
	clear(ss.retry)
	ss.masters, ss.retry = ss.masters[:0], ss.retry[:0]
}
