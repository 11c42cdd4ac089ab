package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/tiercel/tiercel/cache"
	"github.com/tiercel/tiercel/features"
	"github.com/tiercel/tiercel/invalidation"
)

// applier applies invalidation events to this replica: tags and keys to the
// response cache (L1 here, L2 once per event id across replicas), entities
// to the feature store, models to their cached predictions, upserts as
// feature writes. The consumer calls it from one goroutine per partition,
// the admin endpoint for each event posted to it, in either form.
type applier struct {
	s *Server
	// applied is a test seam: called after an event is fully applied.
	applied func(*invalidation.Event)
}

var _ invalidation.Applier = (*applier)(nil)

// Apply applies ev. Parts that cannot apply (an unknown path or view) are
// logged and skipped: retrying them would never succeed. Errors returned
// are transient (Redis), and the consumer retries them.
func (a *applier) Apply(ctx context.Context, ev *invalidation.Event) error {
	s := a.s.current() // one generation per event
	var errs []error
	if s.cache != nil {
		inv := cache.Invalidation{ID: ev.ID, Tags: ev.Tags}
		for _, k := range ev.Keys {
			key, err := s.keyForPath(k)
			if err != nil {
				s.log.Warn("invalidation event names a key that cannot be applied", "event", ev.ID, "key", k, "error", err.Error())
				continue
			}
			inv.Keys = append(inv.Keys, key)
		}
		for _, m := range ev.Models {
			inv.Tags = append(inv.Tags, features.ModelTag(modelName(m)))
		}
		if len(inv.Keys)+len(inv.Tags) > 0 {
			if _, err := s.cache.Invalidate(ctx, inv); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(ev.Entities) > 0 {
		if err := a.applyEntities(ctx, s, ev); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if a.applied != nil {
		a.applied(ev)
	}
	return nil
}

func (a *applier) applyEntities(ctx context.Context, s *generation, ev *invalidation.Event) error {
	if s.features == nil {
		s.log.Warn("invalidation event names feature rows but no features are configured", "event", ev.ID)
		return nil
	}
	byView := map[string][]features.PushRow{}
	for _, e := range ev.Entities {
		byView[e.View] = append(byView[e.View], features.PushRow{Entity: entityText(e.Key), Values: rawValues(e.Values), EventTime: ev.TS})
	}
	var errs []error
	for view, rows := range byView {
		var err error
		if ev.Type == invalidation.TypeUpsert {
			err = s.features.Push(ctx, view, rows)
		} else {
			ents := make([]map[string]string, len(rows))
			for i, r := range rows {
				ents[i] = r.Entity
			}
			err = s.features.InvalidateRows(ctx, view, ents)
		}
		if features.KindOf(err) == features.BadRequest {
			// The event does not fit the registry: retrying cannot help.
			s.log.Warn("invalidation event does not fit the feature registry", "event", ev.ID, "view", view, "error", err.Error())
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("cannot apply event %s to view %s: %w", ev.ID, view, err))
		}
	}
	return errors.Join(errs...)
}

// DropL1 forgets this replica's L1 after a long disconnect from Kafka.
func (a *applier) DropL1() {
	s := a.s.current()
	if s.cache != nil {
		s.cache.DropL1()
	}
	if s.features != nil {
		s.features.DropL1()
	}
}

func entityText(key map[string]any) map[string]string {
	out := make(map[string]string, len(key))
	for k, v := range key {
		switch v := v.(type) {
		case string:
			out[k] = v
		case int64:
			out[k] = strconv.FormatInt(v, 10)
		default:
			out[k] = fmt.Sprint(v)
		}
	}
	return out
}

func rawValues[T ~[]byte](in map[string]T) map[string][]byte {
	if in == nil {
		return nil
	}
	out := make(map[string][]byte, len(in))
	for k, v := range in {
		out[k] = []byte(v)
	}
	return out
}

// modelName strips an @version: a model event drops every version's
// predictions (they are keyed by version anyway).
func modelName(m string) string {
	for i := len(m) - 1; i >= 0; i-- {
		if m[i] == '@' {
			return m[:i]
		}
	}
	return m
}

// startConsumer starts the Kafka consumer when brokers are configured.
func (s *Server) startConsumer(logger *slog.Logger) error {
	if len(s.cfg.Kafka.Brokers) == 0 {
		return nil
	}
	s.applier = &applier{s: s}
	c, err := invalidation.NewConsumer(s.cfg.Kafka, s.applier, logger.With("component", "invalidation"))
	if err != nil {
		return fmt.Errorf("cannot start the invalidation consumer: %w", err)
	}
	s.consumer = c
	// Writes invalidate what they change (unsafemethods.go) wherever
	// something is cached, and a route's invalidate_tags in any case. Made
	// even when nothing is cached yet, since a reload may add a cached
	// route: it connects only once it has an event to publish.
	p, err := invalidation.NewProducer(invalidation.ProducerConfig{Endpoint: s.cfg.Kafka.Endpoint,
		Logger: logger.With("component", "invalidation")})
	if err != nil {
		return fmt.Errorf("cannot start the invalidation producer: %w", err)
	}
	s.producer = p
	return nil
}

// kafkaCheck reports the consumer for /readyz: degraded (not down) while
// Kafka is unreachable, because the gateway still answers, with freshness
// bound by TTLs and, after max_gap, without L1.
func (s *Server) kafkaCheck() (Check, bool) {
	if s.consumer == nil {
		return Check{}, false
	}
	st := s.consumer.Status()
	c := Check{Status: "ok", Detail: st}
	if err := s.consumer.Ready(); err != nil {
		c = Check{Status: "degraded", Detail: map[string]any{"error": err.Error(), "status": st}}
	}
	return c, true
}
