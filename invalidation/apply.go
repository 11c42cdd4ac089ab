package invalidation

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// handle parses, admits and applies one message. A bad message is logged
// with its offset, counted and skipped: the consumer never stalls on one.
func (c *Consumer) handle(m kafka.Message) {
	ev, err := Parse(m.Value)
	if err != nil {
		var pe *ParseError
		reason := ReasonBadJSON
		if errors.As(err, &pe) {
			reason = pe.Reason
		}
		c.st.skip(reason)
		c.log.Warn("invalidation: skipping invalid event", "partition", m.Partition, "offset", m.Offset, "reason", reason, "err", err)
		return
	}
	ev, reason := c.hist.admit(ev)
	if reason != "" {
		c.st.skip(reason)
		c.log.Debug("invalidation: skipping event", "partition", m.Partition, "offset", m.Offset, "reason", reason)
		return
	}
	if err := c.applyWithRetry(ev); err != nil {
		// Not applied: a replay or redelivery may try again.
		c.hist.forget(ev.ID)
		if errors.Is(err, errStopped) {
			return
		}
		c.st.skip(ReasonApplyFailed)
		c.log.Error("invalidation: cannot apply event, skipped", "partition", m.Partition, "offset", m.Offset, "id", ev.ID, "err", err)
		return
	}
	c.applied(ev, m.Time)
}

func (c *Consumer) applied(ev *Event, msgTime time.Time) {
	if ev.Type == TypeUpsert {
		c.st.upserts.Add(1)
	} else {
		c.st.invalidates.Add(1)
	}
	if msgTime.Before(c.started) {
		// A replay: its age is the consumer's downtime, not a latency.
		c.st.replayed.Add(1)
		return
	}
	at := ev.TS
	if at.IsZero() {
		at = msgTime
	}
	c.st.latency.observe(time.Since(at))
}

// applyWithRetry calls Apply up to ApplyAttempts times with exponential
// backoff, each under ApplyTimeout.
func (c *Consumer) applyWithRetry(ev *Event) error {
	backoff := c.cfg.ApplyBackoff
	var err error
	for attempt := range c.cfg.ApplyAttempts {
		if attempt > 0 {
			select {
			case <-time.After(backoff):
				backoff *= 2
			case <-c.stop:
				return errStopped
			}
		}
		ctx, cancel := context.WithTimeout(c.ctx, c.cfg.ApplyTimeout)
		err = c.apply.Apply(ctx, ev)
		cancel()
		if err == nil {
			return nil
		}
		if c.ctx.Err() != nil {
			return errStopped
		}
		c.st.applyErrors.Add(1)
	}
	return fmt.Errorf("cannot apply event %s after %d attempts: %w", ev.ID, c.cfg.ApplyAttempts, err)
}
