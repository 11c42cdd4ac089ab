package cache

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/redis/go-redis/v9"
	"github.com/tiercel/tiercel/internal/testredis"
	"github.com/tiercel/tiercel/internal/testwait"
)

const benchKeys = 10_000

func benchKey(i int) []byte { return fmt.Appendf(nil, "GET /v1/items/%d?lang=en", i) }

// benchCache returns a cache holding benchKeys fresh 1 KiB entries, with
// one unrelated invalidation applied (so hits exercise the tombstone check
// as well as the fast path).
func benchCache(b *testing.B) (*Tiered, [][]byte, FillFunc) {
	clk := newClock()
	c := newTiered(b, Config{L1MaxBytes: 64 * mib}, nil, clk)
	c.now = nil // the production clock: the test clock takes a mutex
	f := newFiller(clk, string(make([]byte, 1024)))
	f.set(func(f *filler) { f.fresh = time.Hour })
	keys := make([][]byte, benchKeys)
	for i := range keys {
		keys[i] = benchKey(i)
		if i == benchKeys/2 {
			c.Invalidate(context.Background(), Invalidation{Tags: []string{"unrelated"}}) //nolint:errcheck // L1 only
		}
		if _, err := c.Fetch(context.Background(), Request{Key: keys[i], Tags: []string{"items"}, MakeFill: fillWith(f.fill)}); err != nil {
			b.Fatal(err)
		}
	}
	settle(b, c)
	return c, keys, f.fill
}

func BenchmarkL1Get(b *testing.B) {
	c, keys, _ := benchCache(b)
	now := time.Now()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			c.Get(keys[i%benchKeys], now)
			i++
		}
	})
}

// BenchmarkRistrettoGet is the baseline: a bare ristretto Get, of items
// stored without and with a TTL. The ttl case reads the clock on every Get,
// which is why l1 keeps lifetimes itself (l1.set).
func BenchmarkRistrettoGet(b *testing.B) {
	for _, ttl := range []time.Duration{0, time.Hour} {
		name := "no-ttl"
		if ttl > 0 {
			name = "ttl"
		}
		b.Run(name, func(b *testing.B) {
			r, err := ristretto.NewCache(&ristretto.Config[string, []byte]{NumCounters: 10 * benchKeys, MaxCost: 64 * mib, BufferItems: 64})
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			keys := make([]string, benchKeys)
			for i := range keys {
				keys[i] = string(benchKey(i))
				r.SetWithTTL(keys[i], make([]byte, 1024), 1024, ttl)
			}
			r.Wait()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					r.Get(keys[i%benchKeys])
					i++
				}
			})
		})
	}
}

func BenchmarkFetchL1Hit(b *testing.B) {
	c, keys, fill := benchCache(b)
	ctx := context.Background()
	tags := []string{"items"}
	makeFill := fillWith(fill) // long-lived, as a hot caller keeps it
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			res, err := c.Fetch(ctx, Request{Key: keys[i%benchKeys], Tags: tags, MakeFill: makeFill})
			if err != nil || res.Outcome != OutcomeHitL1 {
				b.Fatalf("Fetch: %s %v", res.Outcome, err)
			}
			i++
		}
	})
}

// BenchmarkL2GetParallel compares L2 reads of a 1 KiB entry against a real
// redis-server under many concurrent requests: one plain GET per request
// (the baseline a gateway would write) and the natural batching the cache
// uses (one MGET per batch; batched-pipeline: the pipeline of GETs a
// cluster needs).
func BenchmarkL2GetParallel(b *testing.B) {
	srv := testredis.Start(b)
	rdb := redisClient(b, srv)
	c := l2BenchCache(b, rdb)
	b.Run("get-per-request", func(b *testing.B) {
		runL2Bench(b, func(key []byte) error {
			v, err := rdb.Get(context.Background(), c.l2.entryKey(key)).Bytes()
			if err == nil {
				_, err = Decode(v)
			}
			return err
		})
	})
	b.Run("batched", func(b *testing.B) { runL2BenchCPU(b, []string{srv.Addr}, l2BenchLookup(c)) })
	b.Run("batched-pipeline", func(b *testing.B) {
		c.l2.mget = false
		defer func() { c.l2.mget = true }()
		runL2Bench(b, l2BenchLookup(c))
	})
}

// BenchmarkL2ReadCluster is BenchmarkL2GetParallel's batched read on a
// real 3-master Redis Cluster, through the client redisconn builds: one
// pipeline of GETs per batch (batched-script: one script per master,
// Config.L2ClusterScripts), which go-redis splits by node and sends to the
// nodes concurrently. Besides ns/op it reports the CPU a lookup costs
// this process (client-ns/op) and the redis-servers (redis-ns/op), which
// wall time on a shared core cannot tell apart.
func BenchmarkL2ReadCluster(b *testing.B) {
	cl := testredis.StartCluster(b, 3, 0)
	c := l2BenchCache(b, clusterConn(b, cl).Client)
	var masters []string
	for _, m := range cl.Masters() {
		masters = append(masters, m.Addr)
	}
	b.Run("batched", func(b *testing.B) { runL2BenchCPU(b, masters, l2BenchLookup(c)) })
	b.Run("batched-script", func(b *testing.B) {
		c.l2.scriptOff.Store(false)
		defer c.l2.scriptOff.Store(true)
		runL2BenchCPU(b, masters, l2BenchLookup(c))
	})
}

// runL2BenchCPU is runL2Bench, reporting the CPU time per lookup of this
// process and of the redis-servers at addrs.
func runL2BenchCPU(b *testing.B, addrs []string, get func(key []byte) error) {
	self0, redis0 := processCPU(b), serversCPU(b, addrs)
	runL2Bench(b, get)
	b.StopTimer()
	self, redis := processCPU(b)-self0, serversCPU(b, addrs)-redis0
	b.ReportMetric(float64(self.Nanoseconds())/float64(b.N), "client-ns/op")
	b.ReportMetric(float64(redis.Nanoseconds())/float64(b.N), "redis-ns/op")
}

const l2BenchKeys = 1000

var l2BenchTags = []string{"items"}

// l2BenchCache returns a cache on rdb whose L2 holds l2BenchKeys 1 KiB
// entries. The read budget is the longest allowed: pinned to one noisy
// core with the redis-servers, a batch may wait 100 ms for the CPU.
func l2BenchCache(b testing.TB, rdb redis.UniversalClient) *Tiered {
	clk := newClock()
	c := newTiered(b, Config{L2Timeout: time.Second}, rdb, clk)
	f := newFiller(clk, string(make([]byte, 1024)))
	f.set(func(f *filler) { f.fresh = time.Hour })
	for i := range l2BenchKeys {
		if _, err := c.Fetch(context.Background(), Request{Key: benchKey(i), Tags: l2BenchTags, MakeFill: fillWith(f.fill)}); err != nil {
			b.Fatal(err)
		}
	}
	testwait.For(b, 10*time.Second, "the L2 writes", func() bool { return c.Stats().L2Writes == l2BenchKeys })
	return c
}

// l2BenchLookup reads one entry and its generations through c's L2 tier.
func l2BenchLookup(c *Tiered) func(key []byte) error {
	return func(key []byte) error {
		lk := &l2Lookup{key: key, tags: l2BenchTags}
		if err := c.l2.lookup(lk, time.Now()); err != nil {
			return err
		}
		if lk.entry == nil {
			return fmt.Errorf("no entry for %s", key)
		}
		_, err := Decode(lk.entry)
		return err
	}
}

// runL2Bench calls get with 64 concurrent requests on 2 cores.
func runL2Bench(b *testing.B, get func(key []byte) error) {
	b.SetParallelism(32)
	b.ReportAllocs()
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := get(benchKey(int(n.Add(1)) % l2BenchKeys)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkEncode(b *testing.B) {
	e := sampleEntry()
	e.Value = make([]byte, 1024)
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	b.SetBytes(int64(e.Size()))
	for b.Loop() {
		buf = e.Append(buf[:0])
	}
}

func BenchmarkDecode(b *testing.B) {
	e := sampleEntry()
	e.Value = make([]byte, 1024)
	enc := e.Append(nil)
	b.ReportAllocs()
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		if _, err := Decode(enc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFetchL2Hit is the gateway's L2-hit path: Fetch after an L1 miss
// (L1Missed), with 64 concurrent requests on 1 KiB entries in a real
// redis-server, through the flight, the batcher, the decode and the L1
// promotion. A request that joins a flight finished a moment before counts
// as an L1 hit, as it would in the gateway.
func BenchmarkFetchL2Hit(b *testing.B) {
	srv := testredis.Start(b)
	clk := newClock()
	cfg := Config{L2Timeout: 100 * time.Millisecond, L1MaxBytes: mib}
	w := newTiered(b, cfg, redisClient(b, srv), clk)
	w.now = nil
	f := newFiller(clk, string(make([]byte, 1024)))
	f.set(func(f *filler) { f.fresh = time.Hour })
	const keys = 4096
	tags := func(i int) []string { return []string{fmt.Sprintf("item:%d", i)} }
	for i := range keys {
		if _, err := w.Fetch(context.Background(), Request{Key: benchKey(i), Tags: tags(i), MakeFill: fillWith(f.fill)}); err != nil {
			b.Fatal(err)
		}
	}
	testwait.For(b, 10*time.Second, "the L2 writes", func() bool { return w.Stats().L2Writes == keys })
	c := newTiered(b, cfg, redisClient(b, srv), clk)
	c.now = nil // the production clock: the test clock takes a mutex
	reqs := make([]Request, keys)
	for i := range reqs {
		reqs[i] = Request{Key: benchKey(i), Tags: tags(i), L1Missed: true}
	}
	ctx := context.Background()
	b.SetParallelism(32) // 64 concurrent requests on 2 cores
	b.ReportAllocs()
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			res, err := c.Fetch(ctx, reqs[int(n.Add(1))%keys])
			if err != nil || (res.Outcome != OutcomeHitL2 && res.Outcome != OutcomeHitL1) {
				b.Errorf("Fetch: %s %v", res.Outcome, err)
				return
			}
		}
	})
}
