package conntimeout

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tiercel/tiercel/internal/defaults"
)

// Config holds the timeouts. Zero values are documented defaults.
type Config struct {
	// Read bounds reading one request, from its first byte to its last,
	// and a new connection's wait for its first byte: the guard against
	// clients that drip headers or bodies (slowloris). 0: no limit.
	Read time.Duration
	// Write bounds writing one response, from its first write. 0: no limit.
	Write time.Duration
	// Idle bounds a keep-alive connection's wait for its next request.
	// 0: Read (as fasthttp does).
	Idle time.Duration
	// Resolution is the sweep interval: a timeout fires within this much
	// of its nominal value. 0: a twentieth of the shortest timeout, kept
	// between 1ms and 250ms.
	Resolution time.Duration
}

func (c *Config) setDefaults() {
	defaults.Set(&c.Idle, c.Read)
	if c.Resolution > 0 {
		return
	}
	shortest := time.Duration(0)
	for _, d := range []time.Duration{c.Read, c.Write, c.Idle} {
		if d > 0 && (shortest == 0 || d < shortest) {
			shortest = d
		}
	}
	c.Resolution = min(max(shortest/20, time.Millisecond), 250*time.Millisecond)
}

func (c *Config) enabled() bool { return c.Read > 0 || c.Write > 0 || c.Idle > 0 }

// Guard tracks the connections of the listeners it wraps and closes their
// expired phases. New starts its sweeper; Close stops it.
type Guard struct {
	cfg   Config
	start time.Time
	// now is the coarse clock, nanoseconds since start as of the last
	// sweep: what connections read instead of the system clock.
	now atomic.Int64

	mu    sync.Mutex
	conns map[*conn]struct{}

	readTimeouts  atomic.Uint64
	writeTimeouts atomic.Uint64

	stop     chan struct{}
	wg       sync.WaitGroup
	stopOnce sync.Once
}

// Stats are the guard's counters.
type Stats struct {
	Open          int    // tracked connections
	ReadTimeouts  uint64 // idle or read phases cut
	WriteTimeouts uint64 // write phases cut
}

// New starts a guard. With every timeout zero it tracks nothing and runs
// no goroutine.
func New(cfg Config) *Guard {
	cfg.setDefaults()
	g := &Guard{cfg: cfg, start: time.Now(), conns: map[*conn]struct{}{}, stop: make(chan struct{})}
	if cfg.enabled() {
		g.wg.Add(1)
		go g.run()
	}
	return g
}

// Close stops the sweeper. Connections still open keep working, without
// timeouts.
func (g *Guard) Close() {
	g.stopOnce.Do(func() { close(g.stop) })
	g.wg.Wait()
}

// Stats reads the counters.
func (g *Guard) Stats() Stats {
	g.mu.Lock()
	n := len(g.conns)
	g.mu.Unlock()
	return Stats{Open: n, ReadTimeouts: g.readTimeouts.Load(), WriteTimeouts: g.writeTimeouts.Load()}
}

// Listener wraps ln so that every accepted connection is guarded. With no
// timeout configured it returns ln itself.
func (g *Guard) Listener(ln net.Listener) net.Listener {
	if !g.cfg.enabled() {
		return ln
	}
	return &listener{Listener: ln, g: g}
}

type listener struct {
	net.Listener
	g *Guard
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return l.g.track(c), nil
}

func (g *Guard) track(nc net.Conn) *conn {
	c := &conn{Conn: nc, g: g}
	// The first request's wait is bounded by Read, as in fasthttp.
	c.phase.Store(phaseIdle)
	c.arm(g.cfg.Read, false)
	g.mu.Lock()
	g.conns[c] = struct{}{}
	g.mu.Unlock()
	return c
}

func (g *Guard) untrack(c *conn) {
	g.mu.Lock()
	delete(g.conns, c)
	g.mu.Unlock()
}

func (g *Guard) run() {
	defer g.wg.Done()
	t := time.NewTicker(g.cfg.Resolution)
	defer t.Stop()
	var batch []*conn
	for {
		select {
		case <-g.stop:
			return
		case <-t.C:
			batch = g.sweep(batch[:0])
		}
	}
}

// sweep advances the coarse clock and cuts every expired phase. The
// connections are copied out first so that accepts and closes never wait
// for deadline syscalls.
func (g *Guard) sweep(batch []*conn) []*conn {
	now := int64(time.Since(g.start))
	g.now.Store(now)
	g.mu.Lock()
	for c := range g.conns {
		batch = append(batch, c)
	}
	g.mu.Unlock()
	for _, c := range batch {
		if v := c.deadline.Load(); v != 0 && v>>1 <= now && !c.fired.Load() {
			c.expire(now)
		}
	}
	clear(batch) // keep no closed connection alive
	return batch
}
