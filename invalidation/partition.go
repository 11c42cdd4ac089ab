package invalidation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
)

// partition is one partition's reader. Plain partition readers, no
// consumer group: every replica must read every event (package doc).
type partition struct {
	id  int
	r   *kafka.Reader
	lag atomic.Int64
}

// startPartition starts reading partition id from the replay point. When
// the offset cannot be resolved (broker going away) it starts nothing: the
// next discovery retries.
func (c *Consumer) startPartition(id int) {
	ctx, cancel := context.WithTimeout(c.ctx, 2*c.cfg.DialTimeout)
	off, err := c.replayOffset(ctx, id)
	cancel()
	if err != nil {
		if c.ctx.Err() == nil {
			c.log.Warn("invalidation: cannot find the replay offset", "partition", id, "err", err)
		}
		return
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:         c.cfg.Brokers,
		Topic:           c.cfg.Topic,
		Partition:       id,
		Dialer:          c.dialer,
		MinBytes:        1,
		MaxBytes:        2 * MaxEventBytes,
		MaxWait:         c.cfg.MaxWait,
		ReadLagInterval: -1, // lag comes with every message (HighWaterMark)
		// The consumer reports what a reader's errors mean (readiness,
		// invalidation lag); the reader's own lines are detail.
		ErrorLogger: kafkaLogger(c.log, slog.LevelDebug, "partition", id),
	})
	if err := r.SetOffset(off); err != nil {
		r.Close()
		c.log.Error("invalidation: cannot set offset", "partition", id, "offset", off, "err", err)
		return
	}
	p := &partition{id: id, r: r}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		r.Close()
		return
	}
	c.parts[id] = p
	c.wg.Add(1)
	go c.consume(p)
	c.log.Info("invalidation: reading partition", "topic", c.cfg.Topic, "partition", id, "offset", off)
}

// replayOffset is the first offset of partition id whose message time is
// at or after started-Replay (Kafka's offsets-for-times, ListOffsets v1,
// which kfake implements too). When no message is that recent, it is the
// end of the partition as read BEFORE asking for the time: reading
// kafka-go's lazy LastOffset instead would skip messages produced between
// the question and the reader's first fetch.
func (c *Consumer) replayOffset(ctx context.Context, id int) (int64, error) {
	var err error
	for _, b := range c.cfg.Brokers {
		var conn *kafka.Conn
		if conn, err = c.dialer.DialLeader(ctx, "tcp", b, c.cfg.Topic, id); err != nil {
			continue
		}
		if d, ok := ctx.Deadline(); ok {
			_ = conn.SetDeadline(d)
		}
		var last, at int64
		last, err = conn.ReadLastOffset()
		if err == nil {
			at, err = conn.ReadOffset(c.started.Add(-c.cfg.Replay))
		}
		conn.Close()
		if err != nil {
			continue
		}
		if at < 0 || at > last {
			at = last
		}
		return at, nil
	}
	return 0, fmt.Errorf("cannot resolve offset of partition %d: %w", id, err)
}

// consume reads one partition until Close. kafka-go reconnects by itself
// and resumes from the reader's offset, so a broker restart loses nothing.
func (c *Consumer) consume(p *partition) {
	defer c.wg.Done()
	defer p.r.Close()
	for {
		m, err := p.r.FetchMessage(c.ctx)
		if err != nil {
			if c.ctx.Err() != nil {
				return
			}
			// Only unrecoverable reader errors come here; kafka-go retries
			// fetch and connection errors itself.
			c.log.Error("invalidation: reader failed", "partition", p.id, "err", err)
			select {
			case <-time.After(time.Second):
			case <-c.stop:
				return
			}
			continue
		}
		c.contact()
		p.lag.Store(max(m.HighWaterMark-m.Offset-1, 0))
		c.handle(m)
	}
}

// errStopped ends retries when the consumer closes.
var errStopped = errors.New("consumer closed")
