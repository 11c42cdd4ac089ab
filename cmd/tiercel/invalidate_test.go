package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/tiercel/tiercel/internal/testkafka"
	"github.com/tiercel/tiercel/invalidation"
)

// TestInvalidatePublishes publishes with the command and reads the message
// back with kcat, an independent Kafka client.
func TestInvalidatePublishes(t *testing.T) {
	kf := testkafka.Start(t, testkafka.Topic(invalidation.DefaultTopic, 1))
	code, out, errOut := runCLI("invalidate", "-brokers", kf.Addr(), "-tag", "product:42", "-key", "/api/products/42",
		"-entity", "user_stats:user_id=u1", "-source-version", "7")
	if code != 0 || !strings.Contains(out, "published evt-") {
		t.Fatalf("code %d: %s %s", code, out, errOut)
	}
	msg, err := exec.Command("kcat", "-C", "-b", kf.Addr(), "-t", invalidation.DefaultTopic, "-c", "1", "-e", "-q").Output()
	if err != nil {
		t.Fatalf("kcat: %v", err)
	}
	ev, err := invalidation.Parse([]byte(strings.TrimSpace(string(msg))))
	if err != nil {
		t.Fatalf("the published message is not a valid event: %v: %s", err, msg)
	}
	b, _ := json.Marshal(ev)
	if ev.Tags[0] != "product:42" || ev.Keys[0] != "/api/products/42" || ev.Entities[0].View != "user_stats" || ev.SourceVersion != 7 {
		t.Fatalf("event: %s", b)
	}
}

func TestInvalidateUsage(t *testing.T) {
	f := func(want string, args ...string) {
		t.Helper()
		code, _, errOut := runCLI(append([]string{"invalidate"}, args...)...)
		if code != 2 || !strings.Contains(errOut, want) {
			t.Fatalf("%v: code %d %q, want %q", args, code, errOut, want)
		}
	}
	t.Setenv("TIERCEL_KAFKA_BROKERS", "")
	f("give -brokers", "-tag", "x")
	f("-entity", "-brokers", "127.0.0.1:1", "-entity", "noview")
	f("", "-brokers", "127.0.0.1:1") // an event without targets is invalid
}
