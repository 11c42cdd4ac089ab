package conntimeout

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Phases of a server connection. HTTP/1.x alternates reading a request and
// writing its response, so the phase follows from the calls themselves: a
// Read after a Write waits for the next request (idle), a Read that returns
// bytes starts reading one, a Write after reading starts the response.
const (
	phaseIdle uint32 = iota
	phaseReading
	phaseWriting
	phaseManual // the owner set deadlines itself (a hijacked connection): hands off
)

// pastDeadline fails blocked and future I/O at once.
var pastDeadline = time.Unix(1, 0)

type conn struct {
	net.Conn
	g     *Guard
	phase atomic.Uint32
	// deadline is when the current phase expires on the guard's coarse
	// clock, shifted left one bit; the low bit says it bounds a write.
	// 0: no limit.
	deadline atomic.Int64
	// fired says a real deadline in the past is set on Conn. mu orders
	// expire against re-arming, so a new phase never inherits it.
	fired atomic.Bool
	mu    sync.Mutex
}

func (c *conn) Read(b []byte) (int, error) {
	if c.phase.Load() == phaseWriting && c.phase.CompareAndSwap(phaseWriting, phaseIdle) {
		c.arm(c.g.cfg.Idle, false)
	}
	n, err := c.Conn.Read(b)
	// Compare-and-swap: the owner may have taken over (phaseManual)
	// while this Read was blocked.
	if n > 0 && c.phase.Load() == phaseIdle && c.phase.CompareAndSwap(phaseIdle, phaseReading) {
		c.arm(c.g.cfg.Read, false)
	}
	return n, err
}

func (c *conn) Write(b []byte) (int, error) {
	if p := c.phase.Load(); (p == phaseIdle || p == phaseReading) && c.phase.CompareAndSwap(p, phaseWriting) {
		c.arm(c.g.cfg.Write, true)
	}
	return c.Conn.Write(b)
}

func (c *conn) Close() error {
	c.g.untrack(c)
	return c.Conn.Close()
}

// The explicit deadline setters hand the connection over to its owner:
// from then on only the deadlines it sets apply.

func (c *conn) SetDeadline(t time.Time) error {
	return c.manual(func() error { return c.Conn.SetDeadline(t) })
}

func (c *conn) SetReadDeadline(t time.Time) error {
	return c.manual(func() error { return c.Conn.SetReadDeadline(t) })
}

func (c *conn) SetWriteDeadline(t time.Time) error {
	return c.manual(func() error { return c.Conn.SetWriteDeadline(t) })
}

func (c *conn) manual(set func() error) error {
	c.phase.Store(phaseManual)
	c.deadline.Store(0)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fired.Load() {
		c.fired.Store(false)
		if err := c.Conn.SetDeadline(time.Time{}); err != nil {
			return err
		}
	}
	return set()
}

// arm starts a phase limited to d (0: unlimited). It costs two atomic
// stores and loads; only a connection whose previous phase was cut takes
// the lock and a syscall.
func (c *conn) arm(d time.Duration, write bool) {
	var v int64
	if d > 0 {
		v = (c.g.now.Load() + int64(d)) << 1
		if write {
			v |= 1
		}
	}
	c.deadline.Store(v)
	if c.fired.Load() {
		c.mu.Lock()
		if c.fired.Load() {
			_ = c.Conn.SetDeadline(time.Time{})
			c.fired.Store(false)
		}
		c.mu.Unlock()
	}
}

// expire cuts the current phase if it is still expired. fired is set
// before the deadline is read again: either this sees a phase armed
// meanwhile (and cuts nothing), or that arm sees fired and, waiting on mu,
// clears the real deadline set here.
func (c *conn) expire(now int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fired.Store(true)
	v := c.deadline.Load()
	if v == 0 || v>>1 > now || c.phase.Load() == phaseManual {
		c.fired.Store(false)
		return
	}
	if v&1 != 0 {
		c.g.writeTimeouts.Add(1)
		_ = c.Conn.SetWriteDeadline(pastDeadline)
	} else {
		c.g.readTimeouts.Add(1)
		_ = c.Conn.SetReadDeadline(pastDeadline)
	}
}
