package cache

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tiercel/tiercel/internal/redisconn"
	"github.com/tiercel/tiercel/internal/testredis"
	"github.com/tiercel/tiercel/internal/testwait"
)

// TestClusterScriptRead runs the script read path (Config.L2ClusterScripts)
// on a real 3-master Redis Cluster of its own: its subtests move a slot and
// change ACLs.
func TestClusterScriptRead(t *testing.T) {
	cl := testredis.StartCluster(t, 3, 0)
	t.Run("SameAsGETs", func(t *testing.T) { testScriptReadSameAsGETs(t, cl) })
	t.Run("NoScriptAfterFlush", func(t *testing.T) { testScriptReadNoScript(t, cl) })
	t.Run("SlotMoved", func(t *testing.T) { testScriptReadSlotMoved(t, cl) })
	t.Run("Refused", func(t *testing.T) { testScriptReadRefused(t, cl) }) // last: changes ACLs
}

// scriptFixture is a cache on cl reading by scripts, with lookups whose
// entries, key generations and tag generations (one of them shared) land
// on every master, some of them missing; want holds each key's value.
type scriptFixture struct {
	conn *redisconn.Conn
	c    *Tiered
	keys []string
	want map[string]string // Redis key -> value; absent: missing
}

func newScriptFixture(t *testing.T, cl *testredis.Cluster, prefix string) *scriptFixture {
	t.Helper()
	cfg := clusterConfig(prefix)
	cfg.L2ClusterScripts = true
	f := &scriptFixture{conn: clusterConn(t, cl), want: map[string]string{}}
	f.c = newTiered(t, cfg, f.conn.Client, newClock())
	f.keys = keysOnEveryMaster(t, cl, prefix, func(i int) string { return fmt.Sprintf("/s/%d", i) })
	for i := 0; i < 9; i++ { // more lookups than masters, so groups hold several keys
		f.keys = append(f.keys, fmt.Sprintf("/t/%d", i))
	}
	ctx := context.Background()
	l := f.c.l2
	for i, k := range f.keys {
		kb := []byte(k)
		if i%4 != 3 { // every fourth: no entry
			f.want[l.entryKey(kb)] = "entry " + k
		}
		if i%3 != 2 { // every third: no key generation
			f.want[l.keyGenKey(kb)] = strconv.Itoa(1000 + i)
		}
		if i%2 == 0 {
			f.want[l.tagGenKey("product:"+strconv.Itoa(i))] = strconv.Itoa(2000 + i)
		}
	}
	f.want[l.tagGenKey("items")] = "77"
	for k, v := range f.want {
		if err := f.conn.Client.Set(ctx, k, v, time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// read answers one lookup per key in one batch through s, as the batcher
// does, and checks every reply against want.
func (f *scriptFixture) read(t *testing.T, s *readScratch) {
	t.Helper()
	l := f.c.l2
	now := time.Now()
	batch := make([]*l2Lookup, len(f.keys))
	for i, k := range f.keys {
		lk := &l2Lookup{key: []byte(k), tags: []string{"product:" + strconv.Itoa(i), "items"}}
		lk.deadline, lk.done = now.Add(time.Minute), make(chan struct{}, 1)
		lk.state.Store(lookupPending)
		batch[i] = lk
	}
	l.readBatch(batch, s)
	gen := func(key string) uint64 {
		n, _ := strconv.ParseUint(f.want[key], 10, 64) // missing: 0
		return n
	}
	for _, lk := range batch {
		<-lk.done
		if lk.err != nil {
			t.Fatalf("%s: %v", lk.key, lk.err)
		}
		if got, want := string(lk.entry), f.want[l.entryKey(lk.key)]; got != want {
			t.Fatalf("%s: entry %q, want %q", lk.key, got, want)
		}
		if got, want := lk.keyGen, gen(l.keyGenKey(lk.key)); got != want {
			t.Fatalf("%s: key generation %d, want %d", lk.key, got, want)
		}
		for i, tag := range lk.tags {
			if got, want := lk.tagGens[i], gen(l.tagGenKey(tag)); got != want {
				t.Fatalf("%s: generation of tag %s %d, want %d", lk.key, tag, got, want)
			}
		}
	}
}

// scriptCalls is how many EVAL and EVALSHA cl's masters ran.
func scriptCalls(t *testing.T, cl *testredis.Cluster) int {
	t.Helper()
	n := 0
	for _, m := range cl.Masters() {
		for _, cmd := range []string{"eval", "evalsha"} {
			var calls int
			if v := infoField(t, m.Addr, "commandstats", "cmdstat_"+cmd); v != "" {
				fmt.Sscanf(v, "calls=%d", &calls)
			}
			n += calls
		}
	}
	return n
}

// The script path answers exactly what the pipeline of GETs answers:
// entries, missing entries, generations, missing generations, a tag shared
// by every lookup, keys on every master.
func testScriptReadSameAsGETs(t *testing.T, cl *testredis.Cluster) {
	f := newScriptFixture(t, cl, "sr:")
	s := &readScratch{}
	before := scriptCalls(t, cl)
	f.read(t, s)
	if n := scriptCalls(t, cl) - before; n != len(cl.Masters()) {
		t.Fatalf("%d scripts for one batch over %d masters", n, len(cl.Masters()))
	}
	f.read(t, s) // EVALSHA now: every master has run it
	f.c.l2.scriptOff.Store(true)
	f.read(t, s)
	if n := f.c.l2.scriptRetries.Load(); n != 0 {
		t.Fatalf("%d lookups read again by GETs", n)
	}
	for kind, n := range f.conn.Errors() {
		if n != 0 {
			t.Fatalf("redis errors: %d %s", n, kind)
		}
	}
}

// A master that lost the script (SCRIPT FLUSH, a restart) answers NOSCRIPT
// once; the batch sends it whole and is answered by scripts.
func testScriptReadNoScript(t *testing.T, cl *testredis.Cluster) {
	f := newScriptFixture(t, cl, "sr-flush:")
	s := &readScratch{}
	f.read(t, s)
	for _, m := range cl.Masters() {
		node := redis.NewClient(&redis.Options{Addr: m.Addr})
		err := node.ScriptFlush(context.Background()).Err()
		node.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	f.read(t, s)
	if n := f.conn.Errors()["noscript"]; n != uint64(len(cl.Masters())) {
		t.Fatalf("%d NOSCRIPT replies, want one per master", n)
	}
	f.read(t, s)
	if n := f.conn.Errors()["noscript"]; n != uint64(len(cl.Masters())) {
		t.Fatalf("%d NOSCRIPT replies after the reload, want one per master", n)
	}
	if n := f.c.l2.scriptRetries.Load(); n != 0 {
		t.Fatalf("%d lookups read again by GETs", n)
	}
	if st := f.c.Stats(); st.L2Errors != 0 || f.c.L2State() != "closed" {
		t.Fatalf("L2 %s, stats %+v", f.c.L2State(), st)
	}
}

// A slot moved to another master behind the client's back: the scripts
// that meet it fail ("non local key", or MOVED), their lookups are read
// again by GETs, which follow MOVED, and once the client has reloaded its
// slot map the scripts answer everything again.
func testScriptReadSlotMoved(t *testing.T, cl *testredis.Cluster) {
	f := newScriptFixture(t, cl, "sr-move:")
	s := &readScratch{}
	f.read(t, s) // the client's slot map is loaded now
	// Move the slot of a key generation somewhere in the middle of a group.
	key := f.c.l2.keyGenKey([]byte(f.keys[4]))
	from := cl.MasterFor(key)
	var to *testredis.Server
	for _, m := range cl.Masters() {
		if m != from {
			to = m
			break
		}
	}
	moveSlot(t, cl, keySlot(key), from, to)
	if cl.MasterFor(key) != to {
		t.Fatalf("%s did not move", key)
	}
	f.read(t, s)
	if f.c.l2.scriptRetries.Load() == 0 {
		t.Fatal("no lookup was read again by GETs")
	}
	if st := f.c.Stats(); st.L2Errors != 0 {
		t.Fatalf("stats %+v", st)
	}
	testwait.For(t, 10*time.Second, "the scripts to answer every lookup", func() bool {
		before := f.c.l2.scriptRetries.Load()
		f.read(t, s)
		return f.c.l2.scriptRetries.Load() == before
	})
}

// moveSlot migrates slot and its keys from one master to another, as
// redis-cli --cluster reshard does, and tells every master.
func moveSlot(t *testing.T, cl *testredis.Cluster, slot int, from, to *testredis.Server) {
	t.Helper()
	ctx := context.Background()
	client := func(s *testredis.Server) *redis.Client {
		c := redis.NewClient(&redis.Options{Addr: s.Addr})
		t.Cleanup(func() { c.Close() })
		return c
	}
	src, dst := client(from), client(to)
	srcID, dstID := src.ClusterMyID(ctx).Val(), dst.ClusterMyID(ctx).Val()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("moving slot %d: %v", slot, err)
		}
	}
	must(dst.Do(ctx, "cluster", "setslot", slot, "importing", srcID).Err())
	must(src.Do(ctx, "cluster", "setslot", slot, "migrating", dstID).Err())
	keys, err := src.ClusterGetKeysInSlot(ctx, slot, 1000).Result()
	must(err)
	host, port, _ := net.SplitHostPort(to.Addr)
	for _, k := range keys {
		must(src.Migrate(ctx, host, port, k, 0, 5*time.Second).Err())
	}
	for _, m := range cl.Masters() {
		must(client(m).Do(ctx, "cluster", "setslot", slot, "node", dstID).Err())
	}
	cl.WaitHealthy()
}

// A Redis that refuses the script (here: scripting denied by ACL, as an
// older Redis refuses the shebang) is read by GETs from then on.
func testScriptReadRefused(t *testing.T, cl *testredis.Cluster) {
	f := newScriptFixture(t, cl, "sr-acl:")
	ctx := context.Background()
	acl := func(rule string) {
		for _, m := range cl.Masters() {
			node := redis.NewClient(&redis.Options{Addr: m.Addr})
			err := node.Do(ctx, "acl", "setuser", "default", rule).Err()
			node.Close()
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	acl("-@scripting")
	t.Cleanup(func() { acl("+@all") })
	s := &readScratch{}
	f.read(t, s)
	if !f.c.l2.scriptOff.Load() {
		t.Fatal("the script path is still on")
	}
	if f.c.l2.scriptRetries.Load() != uint64(len(f.keys)) {
		t.Fatalf("%d of %d lookups read again by GETs", f.c.l2.scriptRetries.Load(), len(f.keys))
	}
	before := scriptCalls(t, cl)
	f.read(t, s)
	if n := scriptCalls(t, cl) - before; n != 0 {
		t.Fatalf("%d scripts sent after the refusal", n)
	}
	if st := f.c.Stats(); st.L2Errors != 0 || f.c.L2State() != "closed" {
		t.Fatalf("L2 %s, stats %+v", f.c.L2State(), st)
	}
}
