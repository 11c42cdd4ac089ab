package invalidation

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

// stamp is one Apply call seen by a timing applier.
type stamp struct {
	id string
	at time.Time
}

// timingApplier reports each Apply on a channel with its time.
type timingApplier chan stamp

func (a timingApplier) Apply(_ context.Context, ev *Event) error {
	a <- stamp{ev.ID, time.Now()}
	return nil
}

func (timingApplier) DropL1() {}

// BenchmarkProduceToApplied measures an event's trip: Publish called →
// applied on BOTH of two replicas (each its own consumer reading the three
// partitions), one event at a time, on loopback with kfake. Run it as
//
//	go test -run '^$' -bench ProduceToApplied -benchtime 2000x ./invalidation/
//
// for percentiles over 2000 events. Reported: p50/p99 of the trip and of
// Publish alone (acks=all round trip plus BatchTimeout).
func BenchmarkProduceToApplied(b *testing.B) {
	k := startKafka(b)
	replicas := []timingApplier{make(timingApplier, 16), make(timingApplier, 16)}
	for _, r := range replicas {
		c := startConsumer(b, Config{Endpoint: Endpoint{Brokers: []string{k.Addr()}}}, r)
		waitReading(b, c, 3)
	}
	p := newProducer(b, k.Addr())
	// Warm up connections and metadata outside the measurement.
	publish(b, p, tagEvent("warmup", "w"))
	for _, r := range replicas {
		<-r
	}

	trips := make([]time.Duration, 0, b.N)
	publishes := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		id := fmt.Sprintf("bench-%d", i)
		start := time.Now()
		publish(b, p, tagEvent(id, fmt.Sprintf("product:%d", i)))
		publishes = append(publishes, time.Since(start))
		var last time.Time
		for _, r := range replicas {
			s := <-r
			if s.id != id {
				b.Fatalf("applied %s while waiting for %s", s.id, id)
			}
			last = later(last, s.at)
		}
		trips = append(trips, last.Sub(start))
	}
	b.StopTimer()
	report(b, "applied", trips)
	report(b, "publish", publishes)
}

func report(b *testing.B, name string, d []time.Duration) {
	slices.Sort(d)
	pct := func(p float64) float64 {
		return float64(d[min(len(d)-1, int(p*float64(len(d))))].Microseconds())
	}
	b.ReportMetric(pct(0.50), name+"-p50-µs")
	b.ReportMetric(pct(0.99), name+"-p99-µs")
	b.ReportMetric(float64(d[len(d)-1].Microseconds()), name+"-max-µs")
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
