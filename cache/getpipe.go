package cache

import (
	"context"
	"errors"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// readPipelined answers live with one pipeline of GETs: any client, and
// the only way on a Redis Cluster, whose client splits the pipeline by
// node and sends each node's part concurrently (go-redis
// ClusterClient.processPipeline), so a batch costs one round trip per node
// it touches. Every GET goes out as one command allocation: its key is a
// substring of one string per batch and its arguments a part of s.args,
// with the key boxed as a *string (stringArg and the writer read it; a
// string would cost an allocation to box). go-redis keeps no argument past
// Exec, so the scratch is reused from batch to batch.
func (l *l2) readPipelined(live []*l2Lookup, s *readScratch) {
	l.batchKeys(live, s)
	all := string(s.buf)
	gets, start := s.gets[:0], 0
	for _, end := range s.ends {
		gets = append(gets, all[start:end])
		start = end
	}
	args := s.args[:0]
	for i := range gets {
		args = append(args, "get", &gets[i])
	}
	ctx := context.Background()
	cmds := s.cmds[:0]
	for i := range gets {
		cmds = append(cmds, redis.NewStringCmd(ctx, args[2*i:2*i+2:2*i+2]...))
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
	rest, gens := cmds, make([]uint64, len(cmds)-2*len(live))
	for _, lk := range live {
		n := 2 + len(lk.tags)
		lkCmds, tagGens := rest[:n], gens[:len(lk.tags):len(lk.tags)]
		rest, gens = rest[n:], gens[len(lk.tags):]
		if lk.claim() {
			lk.tagGens = tagGens
			lk.err = lk.parse(lkCmds)
			lk.done <- struct{}{}
		}
	}
}

// parse reads one lookup's replies: entry, key generation, tag generations
// (into lk.tagGens, sized by the caller).
func (lk *l2Lookup) parse(cmds []redis.Cmder) error {
	b, err := cmds[0].(*redis.StringCmd).Bytes()
	switch {
	case err == nil:
		lk.entry = b
	case !errors.Is(err, redis.Nil):
		return err
	}
	if lk.keyGen, err = parseGen(cmds[1]); err != nil {
		return err
	}
	for i := range lk.tags {
		if lk.tagGens[i], err = parseGen(cmds[2+i]); err != nil {
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
