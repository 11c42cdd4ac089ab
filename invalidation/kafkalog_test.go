package invalidation

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/tiercel/tiercel/internal/testkafka"
)

// TestProducerLogsThroughSlog: kafka-go's own lines arrive as slog
// records, at debug, tagged with their component.
func TestProducerLogsThroughSlog(t *testing.T) {
	kf := testkafka.Start(t, testkafka.Topic(DefaultTopic, 1))
	var mu sync.Mutex
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	p, err := NewProducer(ProducerConfig{Endpoint: Endpoint{Brokers: []string{kf.Addr()}, Topic: DefaultTopic}, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Publish(t.Context(), &Event{Type: TypeInvalidate, Tags: []string{"t:1"}}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	found := false
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var rec struct{ Level, Msg, Component string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not a slog JSON record: %q", line)
		}
		if rec.Component == "kafka-go" && rec.Level == "DEBUG" && strings.HasPrefix(rec.Msg, "writing 1 messages to "+DefaultTopic) {
			found = true
		}
	}
	if !found {
		t.Fatalf("no kafka-go record for the write:\n%s", buf.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
