package invalidation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
)

// Applier applies events to this replica's caches. The gateway implements
// it: tags and keys to the cache, entities and models to the features
// package. Apply is called concurrently (one goroutine per partition).
type Applier interface {
	// Apply applies ev. It must be idempotent (events are replayed after a
	// restart and may be delivered twice) and should return soon after ctx
	// ends. An error makes the consumer retry, a few times, then skip ev.
	Apply(ctx context.Context, ev *Event) error

	// DropL1 forgets this replica's in-process (L1) copies, leaving L2:
	// called once per long disconnect, since events missed meanwhile may
	// concern any entry.
	DropL1()
}

// Status is the consumer's connection state, for readiness checks.
type Status struct {
	Connected   bool      `json:"connected"`    // the broker answered within MaxGap
	InGap       bool      `json:"in_gap"`       // a long disconnect is going on (L1 was dropped)
	LastContact time.Time `json:"last_contact"` // last metadata answer or message (zero: never)
	Partitions  int       `json:"partitions"`   // partitions being read
}

// Consumer reads every partition of the event topic and applies every event
// on this replica (see the package doc for why there is no consumer group).
type Consumer struct {
	cfg     Config
	apply   Applier
	log     *slog.Logger
	dialer  *kafka.Dialer
	started time.Time
	hist    *history
	st      stats

	lastContact atomic.Int64 // unix nanoseconds
	contacted   atomic.Bool
	inGap       atomic.Bool

	ctx    context.Context // cancelled by Close: ends fetches and applies
	cancel context.CancelFunc
	stop   chan struct{}
	wg     sync.WaitGroup

	mu     sync.Mutex
	parts  map[int]*partition
	closed bool
}

// NewConsumer validates cfg and starts consuming in the background. It does
// not wait for the broker: until it answers, Ready reports why not, and
// after MaxGap without it the replica's L1 is dropped as in any gap.
// logger nil discards.
func NewConsumer(cfg Config, a Applier, logger *slog.Logger) (*Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cannot create invalidation consumer: %w", err)
	}
	if a == nil {
		return nil, errors.New("cannot create invalidation consumer: nil Applier")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	c := &Consumer{
		cfg:     cfg,
		apply:   a,
		log:     logger,
		dialer:  &kafka.Dialer{Timeout: cfg.DialTimeout, DualStack: true, ClientID: "tiercel"},
		started: time.Now(),
		hist:    newHistory(cfg.DedupSize, cfg.VersionsSize),
		stop:    make(chan struct{}),
		parts:   map[int]*partition{},
	}
	c.lastContact.Store(c.started.UnixNano()) // the gap clock starts now
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.wg.Add(1)
	go c.run()
	return c, nil
}

// Close stops every reader and waits for them and for any Apply in flight.
func (c *Consumer) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.mu.Unlock()
	close(c.stop)
	c.cancel()
	c.wg.Wait()
}

// Ready returns nil when the consumer is connected and not in a gap, and
// otherwise says why, for /readyz. Not ready means freshness is TTL-bound:
// the gateway still serves, from L2 and origins.
func (c *Consumer) Ready() error {
	s := c.Status()
	switch {
	case s.InGap:
		return fmt.Errorf("kafka unreachable since %s: L1 dropped, freshness is TTL-bound", s.LastContact.Format(time.RFC3339))
	case !s.Connected:
		return errors.New("kafka not connected yet")
	}
	return nil
}

// Status returns the connection state.
func (c *Consumer) Status() Status {
	c.mu.Lock()
	n := len(c.parts)
	c.mu.Unlock()
	s := Status{InGap: c.inGap.Load(), Partitions: n}
	if c.contacted.Load() {
		s.LastContact = time.Unix(0, c.lastContact.Load())
		s.Connected = !s.InGap && time.Since(s.LastContact) <= c.cfg.MaxGap
	}
	return s
}

// Stats returns a snapshot of the counters, lags and status.
func (c *Consumer) Stats() Stats {
	s := c.st.snapshot()
	s.Lag = map[int]int64{}
	c.mu.Lock()
	for id, p := range c.parts {
		s.Lag[id] = p.lag.Load()
	}
	c.mu.Unlock()
	s.Status = c.Status()
	return s
}

// run discovers partitions and watches for gaps until Close.
func (c *Consumer) run() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.DiscoverInterval)
	defer t.Stop()
	for {
		c.discover()
		c.checkGap()
		select {
		case <-t.C:
		case <-c.stop:
			return
		}
	}
}

// discover lists the topic's partitions, which doubles as the probe of
// the broker, and starts a reader for each new one.
func (c *Consumer) discover() {
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.DialTimeout)
	defer cancel()
	var parts []kafka.Partition
	var err error
	for _, b := range c.cfg.Brokers {
		if parts, err = c.dialer.LookupPartitions(ctx, "tcp", b, c.cfg.Topic); err == nil {
			break
		}
	}
	if err != nil {
		if c.ctx.Err() == nil {
			c.log.Debug("invalidation: cannot list partitions", "topic", c.cfg.Topic, "err", err)
		}
		return
	}
	c.contact()
	for _, p := range parts {
		if c.ctx.Err() != nil {
			return
		}
		c.mu.Lock()
		known := c.parts[p.ID] != nil
		c.mu.Unlock()
		if !known {
			c.startPartition(p.ID)
		}
	}
}

// contact records that the broker answered, ending a gap.
func (c *Consumer) contact() {
	c.lastContact.Store(time.Now().UnixNano())
	c.contacted.Store(true)
	if c.inGap.CompareAndSwap(true, false) {
		c.log.Info("invalidation: kafka reachable again, resuming from the last offsets")
	}
}

// checkGap drops this replica's L1 once per long disconnect: it may hold
// entries that events it could not read have invalidated.
func (c *Consumer) checkGap() {
	since := time.Unix(0, c.lastContact.Load())
	if time.Since(since) <= c.cfg.MaxGap || !c.inGap.CompareAndSwap(false, true) {
		return
	}
	c.st.gaps.Add(1)
	c.log.Warn("invalidation: kafka unreachable, dropping L1", "since", since, "max_gap", c.cfg.MaxGap)
	c.apply.DropL1()
}
