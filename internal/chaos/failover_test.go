package chaos

// The Redis Cluster fault (issue 15): under a load of L2 hits spread over
// every shard, one master is killed (SIGKILL) and the cluster promotes its
// replica. Answers must stay inside their budget with no 5xx while it
// happens, /readyz must say Redis is degraded, and L2 hits on the killed
// master's slots must come back once the replica has taken over.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tiercel/tiercel/internal/testredis"
	"github.com/tiercel/tiercel/internal/testwait"
)

const itemsPath = "/api/items/"

// itemsPerSecond sizes the item keys: the load's rate times this many
// seconds, more than a run lasts, so that nearly every read is a key's
// first through its replica (an L2 hit) rather than a second (an L1 hit).
const itemsPerSecond = 15

// healWithin bounds the wait for the cluster to promote the replica.
const healWithin = 30 * time.Second

func clusterMasterKilled() fault {
	return fault{
		name:     "redis cluster master killed",
		cluster:  true,
		degraded: []string{"redis"},
		maxP99:   budget,
		load:     itemLoad,
		inject:   func(e *env) { e.kill.start(e.cluster) },
		// Nothing to repair: the cluster heals itself. Clearing is waiting
		// until it has (the replica promoted, every slot served).
		clear: func(e *env) { e.kill.wait() },
		recovered: func(e *env, l *Load) error {
			if _, ok := e.kill.firstL2(l.Snapshot()); !ok {
				return errors.New("no HIT-L2 yet for an item on the killed master's slots")
			}
			return nil
		},
		check: checkFailover,
	}
}

// masterKill is one run's victim and what its kill showed.
type masterKill struct {
	victim *testredis.Server
	items  int             // item keys filled
	keys   map[string]bool // item paths whose entries the victim holds
	at     time.Time       // when it was killed
	stop   chan struct{}   // ends the health poll early (the run failed)
	done   chan healResult // the health poll's outcome
	healed time.Duration   // from at until the cluster was healthy again
	err    error           // not healed within healWithin
}

// itemLoad fills n item keys, key k through replica k%2, waits until
// every entry has reached Redis, picks the master holding most of them as
// the victim, and returns a target that reads key k through the other
// replica: its first read there is an L2 hit.
func itemLoad(e *env, sz size) []Target {
	e.t.Helper()
	n := int(sz.rate * itemsPerSecond)
	before := e.l2Writes()
	stored, err := e.fillItems(n, e.fx.token(e.t, e.fx.key, kid, "warmer"))
	if err != nil {
		e.t.Fatal(err)
	}
	byMaster := e.waitItemEntries(n, stored, before, sz.within)
	k := &masterKill{items: n, stop: make(chan struct{}), done: make(chan healResult, 1)}
	for m, keys := range byMaster {
		if len(keys) > len(k.keys) {
			k.victim, k.keys = m, keys
		}
	}
	e.kill = k
	e.t.Cleanup(func() { close(k.stop) })
	hdr := map[string]string{"Authorization": "Bearer " + e.fx.token(e.t, e.fx.key, kid, "items")}
	return []Target{{Name: "items", Headers: hdr, Budget: budget,
		Path: func(i uint64) string { return itemPath(i % uint64(n)) },
		Base: func(i uint64) int { return int(1 - i%uint64(n)%2) }}}
}

func itemPath(k uint64) string { return itemsPath + strconv.FormatUint(k, 10) }

// fillItems requests each item once, eight at a time, and returns how
// many answers were fetched and stored (X-Cache MISS): on a busy machine
// a few may be a route fallback instead, never written to Redis.
func (e *env) fillItems(n int, token string) (int, error) {
	var next, stored atomic.Int64
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for k := next.Add(1) - 1; k < int64(n); k = next.Add(1) - 1 {
				miss, err := e.get(int(k%2), itemPath(uint64(k)), token)
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
				if miss {
					stored.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return int(stored.Load()), errors.Join(errs...)
}

// get sends one GET to replica i, wants a 200 and reports whether it was
// a MISS; unlike do, it may run off the test goroutine.
func (e *env) get(i int, path, token string) (bool, error) {
	req, err := http.NewRequest("GET", e.bases[i]+path, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := e.http.Do(req)
	if err != nil {
		return false, fmt.Errorf("filling %s through replica %d: %w", path, i, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return false, fmt.Errorf("filling %s through replica %d: %d %s", path, i, resp.StatusCode, body)
	}
	return resp.Header.Get("X-Cache") == "MISS", nil
}

// waitItemEntries waits until the replicas have written (or dropped: a
// full queue, a slow batch) the entries of the items stored since their
// write counters read before, then returns which master holds which of
// the n items. A few missing entries are tolerated: those items are
// misses, not L2 hits.
func (e *env) waitItemEntries(n, stored int, before float64, within time.Duration) map[*testredis.Server]map[string]bool {
	e.t.Helper()
	if !testwait.Until(within, func() bool { return e.l2Writes()-before >= float64(stored) }) {
		e.t.Fatalf("the replicas wrote %v of %d item entries to Redis in %s", e.l2Writes()-before, stored, within)
	}
	byMaster, total, err := e.itemEntries()
	if err != nil || total < n*95/100 {
		e.t.Fatalf("%d of %d item entries in Redis (%v)", total, n, err)
	}
	if total < n {
		e.t.Logf("%d of %d item entries reached Redis", total, n)
	}
	return byMaster
}

// l2Writes is how many entries both replicas have written to Redis or
// dropped.
func (e *env) l2Writes() float64 {
	var sum float64
	for i := range e.gws {
		for _, r := range []string{"write", "write_dropped"} {
			v, _ := e.metric(i, `tiercel_cache_l2_operations_total{result="`+r+`"}`)
			sum += v
		}
	}
	return sum
}

// itemEntries scans every master for the cache's item entries.
func (e *env) itemEntries() (map[*testredis.Server]map[string]bool, int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out := map[*testredis.Server]map[string]bool{}
	total := 0
	for _, m := range e.cluster.Masters() {
		keys := map[string]bool{}
		cl := redis.NewClient(&redis.Options{Addr: m.Addr, MaxRetries: -1})
		it := cl.Scan(ctx, 0, "tiercel:e:*"+itemsPath+"*", 1000).Iterator()
		for it.Next(ctx) {
			if p, ok := entryPath(it.Val()); ok {
				keys[p] = true
			}
		}
		err := it.Err()
		cl.Close()
		if err != nil {
			return nil, 0, fmt.Errorf("cannot scan %s: %w", m.Addr, err)
		}
		out[m] = keys
		total += len(keys)
	}
	return out, total, nil
}

// entryPath reads an item's path out of its cache entry's Redis key, in
// which the request path is a field of its own (gateway/httpcache/key.go).
func entryPath(key string) (string, bool) {
	i := strings.Index(key, itemsPath)
	if i < 0 {
		return "", false
	}
	rest := key[i+len(itemsPath):]
	j := 0
	for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	return itemsPath + rest[:j], j > 0
}

// start kills the victim and polls, off the test goroutine, until the
// cluster is healthy again.
func (k *masterKill) start(c *testredis.Cluster) {
	k.at = time.Now()
	k.victim.Kill()
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			err := c.Healthy()
			if err == nil || time.Since(k.at) > healWithin {
				k.done <- healResult{time.Since(k.at), err}
				return
			}
			select {
			case <-tick.C:
			case <-k.stop:
				k.done <- healResult{time.Since(k.at), errors.New("the run ended first")}
				return
			}
		}
	}()
}

// wait returns once the cluster is healthy again (or healWithin passed)
// and records how long that took.
func (k *masterKill) wait() {
	r := <-k.done
	k.healed, k.err = r.after, r.err
}

// healResult is when the health poll saw the cluster healthy, from the
// kill, or why it stopped polling.
type healResult struct {
	after time.Duration
	err   error
}

// firstL2 returns how long after the kill the first answer due after it
// came from L2 for an item whose entry the victim held.
func (k *masterKill) firstL2(samples []Sample) (time.Duration, bool) {
	var first time.Duration
	found := false
	for _, s := range samples {
		if s.Due.Before(k.at) || !k.keys[s.Path] || !hasStep(s, "HIT-L2") {
			continue
		}
		if d := s.Due.Add(s.Latency).Sub(k.at); !found || d < first {
			first, found = d, true
		}
	}
	return first, found
}

func hasStep(s Sample, step string) bool {
	for _, st := range s.Steps {
		if st == step {
			return true
		}
	}
	return false
}

// checkFailover adds the failover's figures to the report and holds them
// to the contract: healed, L2 hits back on the killed master's slots.
func checkFailover(e *env, s *Summary, samples []Sample, seen []map[string]bool) []string {
	k := e.kill
	var problems []string
	s.Notes = append(s.Notes, fmt.Sprintf("killed a master holding %d of %d items", len(k.keys), k.items))
	if k.err != nil {
		problems = append(problems, fmt.Sprintf("the cluster was not healthy %s after the kill: %v", k.healed.Round(time.Millisecond), k.err))
	} else {
		s.Notes = append(s.Notes, "cluster healthy after "+ms(k.healed))
	}
	if d, ok := k.firstL2(samples); ok {
		s.Notes = append(s.Notes, "first HIT-L2 on its slots after "+ms(d))
	} else {
		problems = append(problems, "no HIT-L2 for an item on the killed master's slots after the kill")
	}
	// Reads of the other shards' items while the victim was down: L2 hits
	// there mean one dead shard does not take the whole tier with it.
	var others, othersL2 int
	for _, x := range samples {
		if x.Due.Before(k.at) || x.Due.After(k.at.Add(k.healed)) || k.keys[x.Path] {
			continue
		}
		others++
		if hasStep(x, "HIT-L2") {
			othersL2++
		}
	}
	s.Notes = append(s.Notes, fmt.Sprintf("HIT-L2 on the other shards until healthy %d/%d", othersL2, others))
	n := 0
	for i := range seen {
		if seen[i]["redis"] {
			n++
		}
	}
	s.Notes = append(s.Notes, fmt.Sprintf("/readyz redis degraded seen on %d/%d replicas", n, len(seen)))
	return problems
}
