package invalidation

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/segmentio/kafka-go"
)

// Producer publishes events; other Go services import it to invalidate
// Tiercel's caches. Safe for concurrent use.
type Producer struct {
	w       *kafka.Writer
	tr      *kafka.Transport // ours: Writer.Close closes only a transport it made
	timeout time.Duration
}

// NewProducer validates cfg and returns a producer; it connects lazily, on
// the first Publish.
func NewProducer(cfg ProducerConfig) (*Producer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cannot create invalidation producer: %w", err)
	}
	cfg = cfg.withDefaults()
	tr := &kafka.Transport{
		Dial:     (&net.Dialer{Timeout: cfg.DialTimeout}).DialContext,
		ClientID: "tiercel-producer",
	}
	return &Producer{tr: tr, timeout: cfg.WriteTimeout, w: &kafka.Writer{
		Addr:  kafka.TCP(cfg.Brokers...),
		Topic: cfg.Topic,
		// The partition of a key must not depend on which client produced
		// it, or one entity's events could land in two partitions and lose
		// their order: murmur2 is what the Java client and librdkafka's
		// murmur2_random use, unlike kafka-go's Hash (FNV-1a).
		Balancer: &kafka.Murmur2Balancer{},
		// An event acknowledged by the leader alone can vanish in a leader
		// failover, and a lost invalidation is a stale cache for up to a TTL.
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: cfg.BatchTimeout,
		WriteTimeout: cfg.WriteTimeout,
		Transport:    tr,
		Logger:       kafkaLogger(cfg.Logger, slog.LevelDebug),
		ErrorLogger:  kafkaLogger(cfg.Logger, slog.LevelWarn),
	}}, nil
}

// Publish validates ev and writes it, keyed by ev.RoutingKey, waiting for
// every in-sync replica. A copy is sent with the defaults filled in: the
// schema version, a random id when ID is empty, and the current time when
// TS is zero.
func (p *Producer) Publish(ctx context.Context, ev *Event) error {
	msg, err := message(ev)
	if err != nil {
		return fmt.Errorf("cannot publish event: %w", err)
	}
	if err := p.w.WriteMessages(ctx, msg); err != nil {
		return fmt.Errorf("cannot publish event %s: %w", ev.ID, err)
	}
	return nil
}

// Timeout bounds a Publish whose caller has no deadline of its own to
// give, one that goes on after the request that caused it was answered:
// the produce request's write_timeout.
func (p *Producer) Timeout() time.Duration { return p.timeout }

// message encodes ev as a Kafka message.
func message(in *Event) (kafka.Message, error) {
	ev := *in
	if ev.Version == 0 {
		ev.Version = Version
	}
	if ev.ID == "" {
		ev.ID = NewID()
	}
	if ev.TS.IsZero() {
		ev.TS = time.Now().UTC()
	}
	if err := ev.Validate(); err != nil {
		return kafka.Message{}, err
	}
	b, err := json.Marshal(&ev)
	if err != nil {
		return kafka.Message{}, fmt.Errorf("cannot encode event: %w", err)
	}
	if len(b) > MaxEventBytes {
		return kafka.Message{}, perr(ReasonTooLarge, "", "%d bytes encoded, max %d", len(b), MaxEventBytes)
	}
	return kafka.Message{Key: []byte(ev.RoutingKey()), Value: b}, nil
}

// NewID returns a random event id ("evt-" and 32 hex digits).
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return "evt-" + hex.EncodeToString(b[:])
}

// Close flushes pending writes and closes the connections.
func (p *Producer) Close() error {
	err := p.w.Close()
	p.tr.CloseIdleConnections()
	if err != nil {
		return fmt.Errorf("cannot close invalidation producer: %w", err)
	}
	return nil
}
