package invalidation

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/tiercel/tiercel/internal/testkafka"
	"github.com/tiercel/tiercel/internal/testwait"
)

// Broadcast: two replicas each apply every event of every partition.
func TestTwoReplicasApplyEveryEvent(t *testing.T) {
	k := startKafka(t)
	a, b := newRecorder(), newRecorder()
	ca := startConsumer(t, testConfig(k.Addr()), a)
	cb := startConsumer(t, testConfig(k.Addr()), b)
	waitReading(t, ca, 3)
	waitReading(t, cb, 3)
	p := newProducer(t, k.Addr())
	all := ids("evt", 60)
	for i, id := range all {
		publish(t, p, tagEvent(id, fmt.Sprintf("product:%d", i)))
	}
	testwait.For(t, 20*time.Second, "both replicas to apply every event", func() bool { return a.has(all...) && b.has(all...) })
	// The counters move just after Apply returns.
	for _, c := range []*Consumer{ca, cb} {
		testwait.For(t, 20*time.Second, "the counters", func() bool { return c.Stats().Latency.Count == 60 })
	}
	partitions := map[int]bool{}
	for _, r := range []*recorder{a, b} {
		for _, id := range all {
			if n := r.count(id); n != 1 {
				t.Fatalf("%s applied %d times", id, n)
			}
		}
	}
	for _, c := range []*Consumer{ca, cb} {
		st := c.Stats()
		if st.Applied[TypeInvalidate] != 60 || len(st.Lag) != 3 || st.Latency.Count != 60 {
			t.Fatalf("stats: %+v", st)
		}
		for id, lag := range st.Lag {
			partitions[id] = true
			if lag != 0 {
				t.Fatalf("partition %d lag %d after reading everything", id, lag)
			}
		}
	}
	if len(partitions) != 3 {
		t.Fatalf("partitions read: %v", partitions)
	}
}

// An independent client (kcat, librdkafka) produces; the event is applied
// as sent, and a key lands in the partition our producer would choose.
func TestKcatProducedEventApplied(t *testing.T) {
	k, r, c := readingConsumer(t)
	body := `{"version": 1, "id": "evt-kcat", "type": "upsert", "tags": ["user:u1"],
		"entities": [{"view": "user_stats", "key": {"user_id": "u1"}, "values": {"clicks_7d": 12}}],
		"source_version": 17, "ts": "2026-11-22T10:00:00Z"}`
	testkafka.Kcat(t, k.Addr(), DefaultTopic, `user_stats{"user_id":"u1"}`, []byte(body))
	testwait.For(t, 20*time.Second, "the kcat event", func() bool { return r.has("evt-kcat") })
	ev := r.event("evt-kcat")
	if ev.Type != TypeUpsert || ev.SourceVersion != 17 || ev.Entities[0].Key["user_id"] != "u1" ||
		string(ev.Entities[0].Values["clicks_7d"]) != "12" || ev.Tags[0] != "user:u1" {
		t.Fatalf("applied %+v", ev)
	}
	testwait.For(t, 20*time.Second, "the upsert counted", func() bool { return c.Stats().Applied[TypeUpsert] == 1 })
}

// Bad messages are counted by reason and skipped; good events after them
// in the same partition are still applied.
func TestMalformedEventsSkipped(t *testing.T) {
	k, r, c := readingConsumer(t)
	key := []byte("product:1") // one partition: the good event comes after the bad ones
	writeRaw(t, k.Addr(),
		kafka.Message{Key: key, Value: []byte(`{"version":1,"id":`)},
		kafka.Message{Key: key, Value: []byte(`{"version":2,"id":"v2","type":"invalidate","tags":["a"]}`)},
		kafka.Message{Key: key, Value: []byte(`{"version":1,"type":"invalidate","tags":["a"]}`)},
		kafka.Message{Key: key, Value: nil},
	)
	testkafka.Kcat(t, k.Addr(), DefaultTopic, string(key), []byte(`not json at all`))
	writeRaw(t, k.Addr(), kafka.Message{Key: key, Value: []byte(`{"version":1,"id":"good","type":"invalidate","tags":["product:1"]}`)})
	testwait.For(t, 20*time.Second, "the good event", func() bool { return r.has("good") && c.Stats().Applied[TypeInvalidate] == 1 })
	st := c.Stats()
	want := map[Reason]uint64{ReasonBadJSON: 3, ReasonUnknownVersion: 1, ReasonMissingField: 1}
	for reason, n := range want {
		if st.Skipped[reason] != n {
			t.Errorf("skipped %s = %d, want %d (%v)", reason, st.Skipped[reason], n, st.Skipped)
		}
	}
	if st.Applied[TypeInvalidate] != 1 {
		t.Fatalf("applied %v", st.Applied)
	}
}

// source_version: an event older than one applied for the same target is
// ignored; a multi-target event keeps only the targets it is not late for.
func TestSourceVersionOrdering(t *testing.T) {
	k, r, c := readingConsumer(t)
	p := newProducer(t, k.Addr())
	publish(t, p, &Event{ID: "v5", Type: TypeInvalidate, Tags: []string{"a"}, SourceVersion: 5})
	publish(t, p, &Event{ID: "v3", Type: TypeInvalidate, Tags: []string{"a"}, SourceVersion: 3})
	publish(t, p, &Event{ID: "v4", Type: TypeInvalidate, Tags: []string{"a", "b"}, SourceVersion: 4})
	publish(t, p, &Event{ID: "v6", Type: TypeInvalidate, Tags: []string{"a"}, SourceVersion: 6})
	publish(t, p, &Event{ID: "unversioned", Type: TypeInvalidate, Tags: []string{"a"}})
	testwait.For(t, 20*time.Second, "the later events", func() bool { return r.has("v5", "v4", "v6", "unversioned") })
	testwait.For(t, 20*time.Second, "the stale event to be skipped", func() bool { return c.Stats().Skipped[ReasonStale] == 1 })
	if r.count("v3") != 0 {
		t.Fatalf("an event older than one applied was applied")
	}
	if ev := r.event("v4"); len(ev.Tags) != 1 || ev.Tags[0] != "b" {
		t.Fatalf("v4 applied with tags %v, want only b", ev.Tags)
	}
}

// A repeated id (producer retry, replay) is applied once.
func TestDuplicateIDAppliedOnce(t *testing.T) {
	k, r, c := readingConsumer(t)
	p := newProducer(t, k.Addr())
	publish(t, p, tagEvent("dup", "t1"))
	publish(t, p, tagEvent("dup", "t2")) // another partition, most likely
	publish(t, p, tagEvent("after", "t1"))
	testwait.For(t, 20*time.Second, "the duplicate to be skipped", func() bool { return c.Stats().Skipped[ReasonDuplicate] == 1 })
	testwait.For(t, 20*time.Second, "the next event", func() bool { return r.has("after") })
	if n := r.count("dup"); n != 1 {
		t.Fatalf("dup applied %d times", n)
	}
}

// Apply errors are retried with backoff, then the event is skipped and
// counted; the consumer goes on.
func TestApplyErrorsRetriedThenSkipped(t *testing.T) {
	k := startKafka(t)
	r := newRecorder()
	r.fail = func(ev *Event, attempt int) error {
		if ev.ID == "broken" || (ev.ID == "flaky" && attempt == 1) {
			return errBoom
		}
		return nil
	}
	cfg := testConfig(k.Addr())
	cfg.ApplyAttempts = 3
	c := startConsumer(t, cfg, r)
	waitReading(t, c, 3)
	p := newProducer(t, k.Addr())
	for _, id := range []string{"flaky", "broken", "next"} {
		publish(t, p, tagEvent(id, "same-tag"))
	}
	testwait.For(t, 20*time.Second, "the event after the broken one", func() bool {
		return r.has("flaky", "next") && c.Stats().Applied[TypeInvalidate] == 2
	})
	st := c.Stats()
	if st.Skipped[ReasonApplyFailed] != 1 || st.ApplyErrors != 4 || st.Applied[TypeInvalidate] != 2 {
		t.Fatalf("stats: skipped %v, apply errors %d, applied %v", st.Skipped, st.ApplyErrors, st.Applied)
	}
}

// A broker restart mid-stream (data kept): every event produced before and
// after it is applied, none lost, none twice.
func TestBrokerRestartLosesNothing(t *testing.T) {
	k, r, _ := readingConsumer(t)
	p := newProducer(t, k.Addr())
	before, after := ids("before", 30), ids("after", 30)
	for i, id := range before {
		publish(t, p, tagEvent(id, fmt.Sprintf("t%d", i)))
	}
	testwait.For(t, 20*time.Second, "the events before the restart", func() bool { return r.has(before[:10]...) })
	k.Restart()
	for i, id := range after {
		publishRetrying(t, p, tagEvent(id, fmt.Sprintf("t%d", i)))
	}
	testwait.For(t, 20*time.Second, "every event", func() bool { return r.has(before...) && r.has(after...) })
	for _, id := range append(before, after...) {
		if n := r.count(id); n != 1 {
			t.Fatalf("%s applied %d times", id, n)
		}
	}
}

// A long disconnect drops L1 once and makes the replica not ready; after
// the broker returns, the replica is ready again and resumes where it was.
func TestLongDisconnectDropsL1Once(t *testing.T) {
	k, r, c := readingConsumer(t)
	p := newProducer(t, k.Addr())
	publish(t, p, tagEvent("first", "a"))
	testwait.For(t, 20*time.Second, "the first event", func() bool { return r.has("first") })
	if r.drops.Load() != 0 {
		t.Fatalf("DropL1 called while connected")
	}

	k.Kill()
	testwait.For(t, 20*time.Second, "the gap", func() bool { return r.drops.Load() == 1 })
	if err := c.Ready(); err == nil {
		t.Fatalf("Ready during the gap")
	}
	if st := c.Status(); !st.InGap || st.Connected {
		t.Fatalf("status during the gap: %+v", st)
	}
	// Several gap checks later, still one drop per gap.
	testwait.For(t, 20*time.Second, "the gap to last", func() bool { return time.Since(c.Status().LastContact) > 3*c.cfg.MaxGap })
	if n := r.drops.Load(); n != 1 {
		t.Fatalf("DropL1 called %d times in one gap", n)
	}

	k.Restart()
	publishRetrying(t, p, tagEvent("after-gap", "a"))
	testwait.For(t, 20*time.Second, "recovery", func() bool { return c.Ready() == nil && r.has("after-gap") })
	if st := c.Stats(); st.Gaps != 1 || st.Status.InGap || r.count("first") != 1 {
		t.Fatalf("after recovery: %+v, first applied %d times", st, r.count("first"))
	}
}

// A replica that starts replays the last Replay of events, so events
// published while it (or every replica) was down are applied; older ones
// are not.
func TestReplayOnStart(t *testing.T) {
	k := startKafka(t)
	cfg := testConfig(k.Addr())
	cfg.Replay = time.Hour
	first := newRecorder()
	c := startConsumer(t, cfg, first)
	waitReading(t, c, 3)
	p := newProducer(t, k.Addr())
	publish(t, p, tagEvent("seen", "a"))
	testwait.For(t, 20*time.Second, "the first event", func() bool { return first.has("seen") })
	c.Close()

	// While no replica runs: one event too old to matter, two recent ones.
	old := time.Now().Add(-2 * time.Hour)
	writeRaw(t, k.Addr(), kafka.Message{Key: []byte("a"), Time: old,
		Value: []byte(`{"version":1,"id":"too-old","type":"invalidate","tags":["a"]}`)})
	publish(t, p, tagEvent("missed-1", "a"))
	publish(t, p, tagEvent("missed-2", "b"))

	restarted := newRecorder()
	c2 := startConsumer(t, cfg, restarted)
	testwait.For(t, 20*time.Second, "the replay", func() bool {
		return restarted.has("seen", "missed-1", "missed-2") && c2.Stats().Replayed == 3
	})
	if restarted.count("too-old") != 0 {
		t.Fatalf("replayed an event older than Replay")
	}
	// Replays are not latencies.
	if st := c2.Stats(); st.Replayed != 3 || st.Latency.Count != 0 {
		t.Fatalf("replayed %d, latency observations %d", st.Replayed, st.Latency.Count)
	}
	// A live event after the replay is applied and timed.
	publish(t, p, tagEvent("live", "a"))
	testwait.For(t, 20*time.Second, "the live event timed", func() bool { return restarted.has("live") && c2.Stats().Latency.Count == 1 })
}

// Until the broker first answers, the consumer is not ready; once it
// answers, reading starts with nothing lost.
func TestStartBeforeBroker(t *testing.T) {
	k := startKafka(t)
	k.Kill()
	r := newRecorder()
	c := startConsumer(t, testConfig(k.Addr()), r)
	if err := c.Ready(); err == nil {
		t.Fatalf("ready without a broker")
	}
	k.Restart()
	waitReading(t, c, 3)
	publish(t, newProducer(t, k.Addr()), tagEvent("e", "a"))
	testwait.For(t, 20*time.Second, "the event", func() bool { return r.has("e") })
}

// The producer's partitioner agrees with librdkafka's murmur2 (and so with
// the Java client's default): one entity's events from any of them share a
// partition, which is what orders them.
func TestProducerPartitionsLikeLibrdkafkaMurmur2(t *testing.T) {
	k := startKafka(t)
	p := newProducer(t, k.Addr())
	for i := range 5 {
		key := fmt.Sprintf("product:%d", i)
		before := highWaterMarks(t, k.Addr())
		publish(t, p, tagEvent(fmt.Sprintf("ours-%d", i), key))
		ours := grownPartition(t, before, highWaterMarks(t, k.Addr()))
		before = highWaterMarks(t, k.Addr())
		testkafka.Kcat(t, k.Addr(), DefaultTopic, key, []byte(`{}`), "-X", "partitioner=murmur2_random")
		theirs := grownPartition(t, before, highWaterMarks(t, k.Addr()))
		if ours != theirs {
			t.Fatalf("key %s: our producer chose partition %d, librdkafka murmur2 %d", key, ours, theirs)
		}
	}
}

func highWaterMarks(t *testing.T, addr string) []int64 {
	t.Helper()
	out := make([]int64, 3)
	for p := range out {
		conn, err := kafka.DialLeader(context.Background(), "tcp", addr, DefaultTopic, p)
		if err != nil {
			t.Fatal(err)
		}
		out[p], err = conn.ReadLastOffset()
		conn.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func grownPartition(t *testing.T, before, after []int64) int {
	t.Helper()
	for p := range before {
		if after[p] != before[p] {
			return p
		}
	}
	t.Fatalf("no partition grew: %v -> %v", before, after)
	return -1
}
