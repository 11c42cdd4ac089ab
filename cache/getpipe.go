package cache

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// readPipelined answers live with one pipeline: per lookup one MGET of its
// entry and key generation (one slot, appendKeyName) and one GET per tag
// generation. Any client, and the only way on a Redis Cluster, whose
// client routes each command by its first key, splits the pipeline by
// node and sends each node's part concurrently (go-redis
// ClusterClient.processPipeline), so a batch costs one round trip per node
// it touches. Every command goes out as one allocation: its keys are
// substrings of one string per batch and its arguments a part of s.args,
// each key boxed as a *string (stringArg and the writer read it; a string
// would cost an allocation to box). go-redis keeps no argument past Exec,
// so the scratch is reused from batch to batch.
func (l *l2) readPipelined(live []*l2Lookup, s *readScratch) {
	l.batchKeys(live, s)
	all := string(s.buf)
	gets, start := s.gets[:0], 0
	for _, end := range s.ends {
		gets = append(gets, all[start:end])
		start = end
	}
	// 3 arguments per MGET, 2 per GET, in one array that never grows
	// under the commands that view it.
	args := slices.Grow(s.args[:0], 2*len(gets)-len(live))
	ctx := context.Background()
	cmds, key := s.cmds[:0], 0
	for _, lk := range live {
		a := len(args)
		args = append(args, "mget", &gets[key], &gets[key+1])
		cmds = append(cmds, redis.NewStringSliceCmd(ctx, args[a:a+3:a+3]...))
		key += 2
		for range lk.tags {
			a = len(args)
			args = append(args, "get", &gets[key])
			cmds = append(cmds, redis.NewStringCmd(ctx, args[a:a+2:a+2]...))
			key++
		}
	}
	s.gets, s.args, s.cmds = gets, args, cmds
	defer func() { clear(gets); clear(args); clear(cmds) }() // for the GC
	sent, err := l.exec(l.timeout, func(p redis.Pipeliner) {
		_ = p.BatchProcess(ctx, cmds...) // queues; its error is Exec's
	})
	if len(sent) == 0 { // err is errL2Skipped
		for _, lk := range live {
			lk.answer(err)
		}
		return
	}
	// Each lookup reads its own replies: on a cluster one node may fail (a
	// timeout, a MOVED not followed) while the others answer. The breaker
	// saw the failure already (exec); finish counts each lookup's. One slab
	// holds the batch's tag generations, as in readMGet.
	rest, gens := cmds, make([]uint64, len(cmds)-len(live))
	for _, lk := range live {
		n := 1 + len(lk.tags)
		lkCmds, tagGens := rest[:n], gens[:len(lk.tags):len(lk.tags)]
		rest, gens = rest[n:], gens[len(lk.tags):]
		if lk.claim() {
			lk.tagGens = tagGens
			lk.err = lk.parse(lkCmds)
			lk.done <- struct{}{}
		}
	}
}

// parse reads one lookup's replies: the MGET of entry and key generation,
// then tag generations (into lk.tagGens, sized by the caller).
func (lk *l2Lookup) parse(cmds []redis.Cmder) error {
	vals, err := cmds[0].(*redis.StringSliceCmd).Result()
	switch {
	case err != nil:
		return err
	case len(vals) != 2:
		return fmt.Errorf("mget answered %d values for 2 keys", len(vals))
	}
	// Missing keys read as "", as in readMGet.
	if vals[0] != "" {
		lk.entry = stringBytes(vals[0])
	}
	if lk.keyGen, err = parseGenString(vals[1]); err != nil {
		return err
	}
	for i := range lk.tags {
		if lk.tagGens[i], err = parseGen(cmds[1+i]); err != nil {
			return err
		}
	}
	return nil
}

// parseGen reads a generation; a missing key is generation 0.
func parseGen(c redis.Cmder) (uint64, error) {
	s, err := c.(*redis.StringCmd).Result()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(s, 10, 64)
}
