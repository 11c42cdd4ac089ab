package gateway

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tiercel/tiercel/internal/testkafka"
	"github.com/tiercel/tiercel/internal/testredis"
	"github.com/tiercel/tiercel/invalidation"
)

// BenchmarkEventToApplied measures one event at a time from the producer's
// Publish call to applied (cache invalidated, L1 and L2) on BOTH of two
// gateway replicas, over loopback with a kfake broker and redis-server.
// Reports p50/p99/max in ms.
func BenchmarkEventToApplied(b *testing.B) {
	rs := testredis.Start(b)
	kf := testkafka.Start(b, testkafka.Topic(testTopic, 3))
	var mu sync.Mutex
	done := map[string]int{}
	wake := make(chan struct{}, 16)
	var replicas []*Server
	for range 2 {
		cfg := testConfig("127.0.0.1:9")
		cachedRoutes(rs.URL())(&cfg)
		cfg.Kafka = invalidation.Config{Endpoint: invalidation.Endpoint{Brokers: []string{kf.Addr()}, Topic: testTopic}, MaxWait: 50 * time.Millisecond}
		cfg.SetDefaults()
		s, err := New(cfg, discardLogger())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(s.closeComponents)
		s.current().applier.applied = func(ev *invalidation.Event) {
			mu.Lock()
			done[ev.ID]++
			mu.Unlock()
			select {
			case wake <- struct{}{}:
			default:
			}
		}
		replicas = append(replicas, s)
	}
	for _, s := range replicas {
		for s.consumer.Ready() != nil || s.consumer.Status().Partitions == 0 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	p, err := invalidation.NewProducer(invalidation.ProducerConfig{Endpoint: invalidation.Endpoint{Brokers: []string{kf.Addr()}, Topic: testTopic}})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		id := "bench-" + strconv.Itoa(i)
		start := time.Now()
		ev := &invalidation.Event{Version: invalidation.Version, ID: id, Type: invalidation.TypeInvalidate,
			Tags: []string{"product:" + strconv.Itoa(i%100)}, TS: start}
		if err := p.Publish(context.Background(), ev); err != nil {
			b.Fatal(err)
		}
		for {
			mu.Lock()
			n := done[id]
			mu.Unlock()
			if n == 2 {
				break
			}
			select {
			case <-wake:
			case <-time.After(time.Millisecond):
			}
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(1), "max-ms")
}
