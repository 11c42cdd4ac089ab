package cache

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Natural batching of L2 reads. One pipeline per request makes Redis
// throughput bound by round trips (one GET per request reaches a third of a
// bare fasthttp server here). Instead one goroutine sends whatever lookups
// queued while its previous pipeline was in flight as the next pipeline:
// no fixed wait, so a lone lookup goes out at once, and under load the
// batches grow by themselves.

// l2Lookup is one pending read: the entry and the current generations of
// its key and tags. The reply fields are written by whoever answers it
// (claim) before it sends the one token done carries. done has capacity 1
// and comes from a pool: its waiter receives the token and gives the
// channel back (await), so a read costs no channel allocation.
type l2Lookup struct {
	key      []byte
	tags     []string
	deadline time.Time
	done     chan struct{}
	state    atomic.Uint32 // lookupPending, then lookupAnswered (queue.go)

	entry   []byte // nil: no entry
	keyGen  uint64
	tagGens []uint64
	err     error
}

// errLeft reports that the waiter of an L2 read left before its reply.
var errLeft = errors.New("l2 read left")

// lookup reads lk's entry and generations within the L2 timeout. It returns
// errL2Skipped at once when the breaker is open or the queue full.
// now is a clock reading just taken.
func (l *l2) lookup(lk *l2Lookup, now time.Time) error {
	if err := l.submit(lk, now); err != nil {
		return err
	}
	return l.await(lk, nil, time.Time{})
}

// submit queues lk for the batcher, or answers errL2Skipped. now is a
// clock reading just taken.
func (l *l2) submit(lk *l2Lookup, now time.Time) error {
	if l.open() {
		l.st.l2Skipped.Add(1)
		return errL2Skipped
	}
	lk.deadline = now.Add(l.timeout)
	lk.state.Store(lookupPending)
	lk.done = l.dones.get()
	if err := l.q.push(lk); err != nil {
		// Not queued, so nobody answers: done is still empty.
		l.dones.put(lk.done)
		lk.done = nil
		if err == errL2Skipped {
			l.st.l2Skipped.Add(1)
		}
		return err
	}
	l.st.l2Reads.Add(1)
	return nil
}

// await waits for the reply to a submitted lk, which comes by its deadline
// (queue.go). When leave may close first, or leaveAt (zero: never) comes
// before that deadline, it answers errLeft then, and lk may be awaited
// again: only then does the wait take a timer.
func (l *l2) await(lk *l2Lookup, leave <-chan struct{}, leaveAt time.Time) error {
	if leave == nil && (leaveAt.IsZero() || !leaveAt.Before(lk.deadline)) {
		<-lk.done
		return l.finish(lk)
	}
	select {
	case <-lk.done:
		return l.finish(lk)
	default:
	}
	var tick <-chan time.Time
	if !leaveAt.IsZero() && leaveAt.Before(lk.deadline) {
		t := l.timers.get(time.Until(leaveAt))
		defer l.timers.put(t)
		tick = t.C
	}
	select {
	case <-lk.done:
		return l.finish(lk)
	case <-tick:
		return errLeft
	case <-leave:
		return errLeft
	}
}

// finish takes the answer of lk, whose token its caller has just received.
func (l *l2) finish(lk *l2Lookup) error {
	l.dones.put(lk.done) // empty again, and nobody else receives from it
	lk.done = nil
	if lk.err != nil && lk.err != ErrClosed {
		l.count(lk.err)
	}
	return lk.err
}

// readLoop is the batcher goroutine.
func (l *l2) readLoop() {
	batch := make([]*l2Lookup, 0, l.batchMax)
	scratch := &readScratch{live: make([]*l2Lookup, 0, l.batchMax)}
	for l.q.wait(l.stop) {
		// The push that woke this goroutine made it run next, before the
		// requests already runnable could queue their reads: let them run
		// first, or with few cores every batch holds one read.
		runtime.Gosched()
		batch = l.q.take(batch, l.batchMax)
		l.readBatch(batch, scratch)
		l.q.landed()
		clear(batch) // drop references for the GC
	}
}

// readScratch is the batcher's memory, reused from batch to batch.
type readScratch struct {
	live []*l2Lookup
	buf  []byte   // every key of one batch (batchKeys)
	ends []int    // where each key of buf ends
	keys []keyArg // views of buf (MGET)
	args []any    // "mget", then pointers into keys; or "get" and a pointer into gets, per GET
	gets []string // the keys of a pipeline of GETs
	cmds []redis.Cmder

	script *scriptScratch // readScripted's, on a cluster
}

// batchKeys writes every key live reads into s.buf, lookup by lookup:
// entry, key generation (one slot, appendKeyName), tag generations; s.ends
// marks where each ends.
func (l *l2) batchKeys(live []*l2Lookup, s *readScratch) {
	buf, ends := s.buf[:0], s.ends[:0]
	for _, lk := range live {
		tag := keyTag(lk.key)
		buf = l.appendKeyName(buf, entryKind, tag, lk.key)
		ends = append(ends, len(buf))
		buf = l.appendKeyName(buf, keyGenKind, tag, lk.key)
		ends = append(ends, len(buf))
		for _, t := range lk.tags {
			buf = append(append(append(buf, l.prefix...), "tg:"...), t...)
			ends = append(ends, len(buf))
		}
	}
	s.buf, s.ends = buf, ends
}

// keyArg is one MGET key. go-redis writes an encoding.BinaryMarshaler as
// bytes, and boxing the pointer *keyArg allocates nothing, where boxing a
// []byte or string costs an allocation per key.
type keyArg []byte

func (k *keyArg) MarshalBinary() ([]byte, error) { return *k, nil }

// readBatch answers every lookup of batch with one round trip, using s as
// scratch space.
func (l *l2) readBatch(batch []*l2Lookup, s *readScratch) {
	now := time.Now()
	live := s.live[:0]
	for _, lk := range batch {
		if now.After(lk.deadline) {
			// Its waiter has left already; asking Redis is wasted work.
			lk.answer(context.DeadlineExceeded)
			continue
		}
		if lk.state.Load() == lookupPending { // else answered by the reaper or Close
			live = append(live, lk)
		}
	}
	switch {
	case len(live) == 0:
	case l.mget:
		l.readMGet(live, s)
	case l.cluster != nil && !l.scriptOff.Load():
		l.readScripted(live, s)
	default:
		l.readPipelined(live, s)
	}
	clear(live)
	s.live = live
}

// readMGet answers live with one MGET of every lookup's keys: one command
// and one reply, where a pipeline of GETs costs a command, a reply and an
// error value per missing generation. A single node only: on a cluster the
// keys span slots.
func (l *l2) readMGet(live []*l2Lookup, s *readScratch) {
	l.batchKeys(live, s)
	n := len(s.ends)
	keys, start := s.keys[:0], 0
	for _, end := range s.ends {
		keys = append(keys, keyArg(s.buf[start:end:end]))
		start = end
	}
	args := append(s.args[:0], "mget")
	for i := range keys {
		args = append(args, &keys[i])
	}
	s.keys, s.args = keys, args
	// Missing keys read as "": no valid entry or generation is empty.
	cmd := redis.NewStringSliceCmd(context.Background(), args...)
	defer clear(args) // go-redis keeps none of them past Process
	err := l.do(l.timeout, func(ctx context.Context) error { return l.rdb.Process(ctx, cmd) })
	if err == nil {
		err = cmd.Err() // an error reply that is no failure (redisconn.Failure)
	}
	vals := cmd.Val()
	if err == nil && len(vals) != n {
		err = fmt.Errorf("mget answered %d values for %d keys", len(vals), n)
	}
	// One slab for the whole batch's tag generations: an entry keeps its
	// lookup's part (decode shares equal gens), a few bytes, not a slice
	// allocation per lookup.
	var gens []uint64
	if err == nil {
		gens = make([]uint64, n-2*len(live))
	}
	for _, lk := range live {
		if err != nil {
			lk.answer(err)
			continue
		}
		k := 2 + len(lk.tags)
		tagGens := gens[:len(lk.tags):len(lk.tags)]
		lkVals := vals[:k]
		gens, vals = gens[len(lk.tags):], vals[k:]
		lk.answerStrings(lkVals, tagGens)
	}
}

// answerStrings answers lk, unless answered already, from its MGET values
// (entry, key generation, tag generations), its tag generations going to
// tagGens.
func (lk *l2Lookup) answerStrings(vals []string, tagGens []uint64) {
	if lk.claim() {
		lk.tagGens = tagGens
		lk.err = lk.parseStrings(vals)
		lk.done <- struct{}{}
	}
}

// parseStrings reads one lookup's MGET values: entry, key generation, tag
// generations (into lk.tagGens, sized by the caller).
func (lk *l2Lookup) parseStrings(vals []string) error {
	if vals[0] != "" {
		lk.entry = stringBytes(vals[0])
	}
	var err error
	if lk.keyGen, err = parseGenString(vals[1]); err != nil {
		return err
	}
	for i := range lk.tags {
		if lk.tagGens[i], err = parseGenString(vals[2+i]); err != nil {
			return err
		}
	}
	return nil
}

func parseGenString(s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	return strconv.ParseUint(s, 10, 64)
}
