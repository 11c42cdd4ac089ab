package gateway

import (
	"context"
	"sync"
	"time"
)

// detached runs work a request started that must outlive it: the event a
// write's invalidation publishes (unsafemethods.go) is as much a part of
// the write as its answer, and must not be lost because the origin used up
// the write's budget. Each piece runs under a timeout of its own, never
// the request's; Shutdown stops new work, waits for the rest while its ctx
// lasts, then cancels it.
type detached struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
	ctx    context.Context // parents every piece, so that close can cancel them
	cancel context.CancelFunc
}

func newDetached() *detached {
	d := &detached{}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	return d
}

// run starts work on a goroutine of its own with a context that ends after
// timeout; it reports false, starting nothing, once close has begun.
func (d *detached) run(timeout time.Duration, work func(context.Context)) bool {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return false
	}
	d.wg.Add(1)
	d.mu.Unlock()
	go func() {
		defer d.wg.Done()
		ctx, cancel := context.WithTimeout(d.ctx, timeout)
		defer cancel()
		work(ctx)
	}()
	return true
}

// close refuses new work and waits for the work in progress until ctx
// ends, then cancels what is left and waits for it to return.
func (d *detached) close(ctx context.Context) {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	done := make(chan struct{})
	go func() {
		d.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		d.cancel()
		<-done
	}
	d.cancel()
}
