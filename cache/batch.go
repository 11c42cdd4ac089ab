package cache

import (
	"context"
	"errors"
	"strconv"
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
// its key and tags. The reply fields are written by the batcher before done
// is closed; a waiter that timed out never reads them.
type l2Lookup struct {
	key      []byte
	tags     []string
	deadline time.Time
	done     chan struct{}

	entry   []byte // nil: no entry
	keyGen  uint64
	tagGens []uint64
	err     error
}

// lookup reads key's entry and generations within the L2 timeout. It
// returns errL2Skipped at once when the breaker is open or the queue full.
func (l *l2) lookup(key []byte, tags []string) (*l2Lookup, error) {
	if l.open() {
		l.st.l2Skipped.Add(1)
		return nil, errL2Skipped
	}
	l.st.l2Reads.Add(1)
	lk := &l2Lookup{key: key, tags: tags, deadline: time.Now().Add(l.timeout), done: make(chan struct{})}
	if !l.batched {
		l.readBatch([]*l2Lookup{lk})
		return l.finish(lk)
	}
	select {
	case l.reads <- lk:
	default:
		l.st.l2Skipped.Add(1)
		return nil, errL2Skipped
	}
	t := time.NewTimer(l.timeout)
	defer t.Stop()
	select {
	case <-lk.done:
		return l.finish(lk)
	case <-t.C:
		l.st.l2Timeouts.Add(1)
		return nil, context.DeadlineExceeded
	case <-l.stop:
		return nil, ErrClosed
	}
}

func (l *l2) finish(lk *l2Lookup) (*l2Lookup, error) {
	if lk.err != nil {
		l.count(lk.err)
		return nil, lk.err
	}
	return lk, nil
}

// readLoop is the batcher goroutine.
func (l *l2) readLoop() {
	batch := make([]*l2Lookup, 0, l.batchMax)
	for {
		select {
		case lk := <-l.reads:
			batch = append(batch[:0], lk)
		case <-l.stop:
			return
		}
	drain:
		for len(batch) < l.batchMax {
			select {
			case lk := <-l.reads:
				batch = append(batch, lk)
			default:
				break drain
			}
		}
		l.readBatch(batch)
		clear(batch) // drop references for the GC
	}
}

// readBatch answers every lookup of batch with one pipeline.
func (l *l2) readBatch(batch []*l2Lookup) {
	now := time.Now()
	live := make([]*l2Lookup, 0, len(batch))
	for _, lk := range batch {
		if now.After(lk.deadline) {
			// Its waiter has left already; asking Redis is wasted work.
			lk.err = context.DeadlineExceeded
			close(lk.done)
			continue
		}
		live = append(live, lk)
	}
	if len(live) == 0 {
		return
	}
	cmds, err := l.exec(l.timeout, func(p redis.Pipeliner) {
		ctx := context.Background()
		for _, lk := range live {
			p.Get(ctx, l.entryKey(lk.key))
			p.Get(ctx, l.keyGenKey(lk.key))
			for _, t := range lk.tags {
				p.Get(ctx, l.tagGenKey(t))
			}
		}
	})
	for _, lk := range live {
		if err == nil {
			n := 2 + len(lk.tags)
			lk.err = lk.parse(cmds[:n])
			cmds = cmds[n:]
		} else {
			lk.err = err
		}
		close(lk.done)
	}
}

// parse reads one lookup's replies: entry, key generation, tag generations.
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
	lk.tagGens = make([]uint64, len(lk.tags))
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

// writeLoop is the asynchronous writer goroutine, batching like readLoop.
func (l *l2) writeLoop() {
	batch := make([]l2Write, 0, l.batchMax)
	for {
		select {
		case w := <-l.writes:
			batch = append(batch[:0], w)
		case <-l.stop:
			return
		}
	drain:
		for len(batch) < l.batchMax {
			select {
			case w := <-l.writes:
				batch = append(batch, w)
			default:
				break drain
			}
		}
		l.writeBatch(batch)
		clear(batch)
	}
}
