package features

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tiercel/tiercel/cache"
)

// Batched fills. http-view rows and predictions are cached per key, so each
// missing key is one cache.Fetch: L2 is read, and concurrent requests for
// the same key share one fill. But the dependency is called once per
// request for all its keys: the fills of one request meet in a batch,
// which calls when every key has either asked to be filled or been
// answered by the cache.

// batchLinger bounds how long a fill waits for the rest of its request's
// fills. A key can be waiting on another request's fill that itself waits
// for this batch; the linger breaks that cycle.
const batchLinger = 5 * time.Millisecond

// batchReq is one request's keys for one dependency.
type batchReq struct {
	keys    []string
	args    []any    // per key, handed to call
	tags    []string // surrogate keys of every entry (e.g. the model's tag)
	timeout time.Duration
	call    func(ctx context.Context, ps []*pendingFill) // sets entry or err on each

	entries []*cache.Entry // results, per key (nil: none)
	sources []cache.Outcome
	errs    []error // per key without an entry: why

	mu      sync.Mutex
	settled int // keys answered without a fill, plus fills registered
	pending []*pendingFill
	fired   bool
	timer   *time.Timer
}

type pendingFill struct {
	arg   any
	done  chan struct{}
	entry *cache.Entry
	err   error
}

// fetchBatched fetches br's keys from c concurrently, filling misses with
// one br.call. It returns by ctx's deadline; keys not answered are nil.
func (s *Store) fetchBatched(ctx context.Context, c *cache.Tiered, br *batchReq, now time.Time) []*cache.Entry {
	br.entries = make([]*cache.Entry, len(br.keys))
	br.sources = make([]cache.Outcome, len(br.keys))
	br.errs = make([]error, len(br.keys))
	var wg sync.WaitGroup
	for i, key := range br.keys {
		arg := br.args[i]
		wg.Go(func() {
			var filled atomic.Bool // set on the cache's flight goroutine
			makeFill := func() cache.FillFunc {
				return func(fctx context.Context, _ []byte, _ *cache.Entry) (*cache.Entry, error) {
					filled.Store(true)
					return br.fill(fctx, arg)
				}
			}
			r, err := c.Fetch(ctx, cache.Request{Key: []byte(key), Tags: br.tags, Now: now, FillTimeout: br.timeout, MakeFill: makeFill})
			if !filled.Load() {
				br.settle()
			}
			if err == nil {
				br.entries[i], br.sources[i] = r.Entry, r.Outcome
			} else {
				br.errs[i] = err
			}
		})
	}
	wg.Wait()
	return br.entries
}

// settle counts a key answered without a fill.
func (br *batchReq) settle() {
	br.mu.Lock()
	br.settled++
	ready := !br.fired && br.settled >= len(br.keys) && len(br.pending) > 0
	if ready {
		br.fired = true
	}
	br.mu.Unlock()
	if ready {
		br.fire()
	}
}

// fill runs on a cache flight goroutine: it joins the batch and waits for
// its key's result.
func (br *batchReq) fill(ctx context.Context, arg any) (*cache.Entry, error) {
	p := &pendingFill{arg: arg, done: make(chan struct{})}
	br.mu.Lock()
	if br.fired {
		// Arrived after the batch left (its request gave up waiting): alone.
		br.mu.Unlock()
		br.call(ctx, []*pendingFill{p})
		return p.entry, p.err
	}
	br.pending = append(br.pending, p)
	br.settled++
	ready := br.settled >= len(br.keys)
	if ready {
		br.fired = true
		if br.timer != nil {
			br.timer.Stop()
		}
	} else if br.timer == nil {
		br.timer = time.AfterFunc(batchLinger, br.fireLate)
	}
	br.mu.Unlock()
	if ready {
		br.fire()
	}
	select {
	case <-p.done:
		return p.entry, p.err
	case <-ctx.Done():
		return nil, fmt.Errorf("cannot fill: %w", ctx.Err())
	}
}

func (br *batchReq) fireLate() {
	br.mu.Lock()
	if br.fired {
		br.mu.Unlock()
		return
	}
	br.fired = true
	br.mu.Unlock()
	br.fire()
}

// fire calls the dependency for every pending fill, under the batch's own
// timeout: the fills go on for later requests after this one has left.
func (br *batchReq) fire() {
	br.mu.Lock()
	ps := br.pending
	br.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), br.timeout)
	defer cancel()
	br.call(ctx, ps)
	for _, p := range ps {
		if p.entry == nil && p.err == nil {
			p.err = fmt.Errorf("BUG: batch left a key unanswered")
		}
		close(p.done)
	}
}
