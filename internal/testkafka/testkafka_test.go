package testkafka

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// The harness itself: kcat produces, kafka-go reads, and a restart keeps
// the message and the port.
func TestKcatAndRestartKeepData(t *testing.T) {
	c := Start(t, Topic("t", 2))
	Kcat(t, c.Addr(), "t", "k", []byte("{\"a\":\n1}"))
	first := readOne(t, c.Addr())
	if string(first.Key) != "k" || string(first.Value) != "{\"a\":\n1}" {
		t.Fatalf("read %q=%q", first.Key, first.Value)
	}
	c.Restart()
	again := readOne(t, c.Addr())
	if again.Partition != first.Partition || again.Offset != first.Offset || string(again.Value) != string(first.Value) {
		t.Fatalf("after Restart: %+v, before %+v", again, first)
	}
}

// readOne returns the first message of any partition of topic "t".
func readOne(t *testing.T, addr string) kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan kafka.Message, 2)
	for p := range 2 {
		go func() {
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: "t", Partition: p, MaxWait: 50 * time.Millisecond})
			defer r.Close()
			if m, err := r.ReadMessage(ctx); err == nil {
				got <- m
			}
		}()
	}
	select {
	case m := <-got:
		return m
	case <-ctx.Done():
		t.Fatalf("no message read from %s", addr)
	}
	return kafka.Message{}
}
