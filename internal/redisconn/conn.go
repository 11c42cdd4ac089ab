package redisconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// degradedFor is how long one failure reply keeps Health degraded: long
// enough for a probe every few seconds to see a failover, short enough
// that a healed cluster reads healthy soon after.
const degradedFor = 10 * time.Second

// logEvery bounds the error log to one line per kind per interval.
const logEvery = 10 * time.Second

// reloadEvery bounds slot map reloads a cluster client asks for; go-redis
// itself also waits 200 ms between two.
const reloadEvery = 100 * time.Millisecond

// Conn is the shared client and what it has seen.
type Conn struct {
	// Client is the one client every component uses: *redis.Client for
	// single and failover modes, *redis.ClusterClient for a cluster.
	Client redis.UniversalClient

	cluster *redis.ClusterClient // nil unless cluster mode
	mode    string
	log     *slog.Logger

	errs       sync.Map // kind -> *kindStats
	lastFail   atomic.Int64
	lastKind   atomic.Value // string
	lastReload atomic.Int64
	reloads    atomic.Uint64
}

type kindStats struct {
	n       atomic.Uint64
	logged  atomic.Int64  // unix ns of the last log line
	atLog   atomic.Uint64 // n at that line
	failure bool
}

// New builds the client a config stands for; nil without Redis. Nothing
// is dialled yet.
func New(cfg Config, log *slog.Logger) (*Conn, error) {
	if !cfg.Enabled() {
		return nil, nil
	}
	if log == nil {
		log = slog.Default()
	}
	o, err := cfg.Options()
	if err != nil {
		return nil, err
	}
	c := &Conn{mode: cfg.Mode, log: log}
	switch {
	case o.Cluster != nil:
		c.cluster = redis.NewClusterClient(o.Cluster)
		c.Client = c.cluster
	case o.Failover != nil:
		c.Client = redis.NewFailoverClient(o.Failover)
	default:
		c.Client = redis.NewClient(o.Single)
	}
	c.Client.AddHook(hook{c})
	for _, k := range AllKinds {
		c.errs.Store(k, &kindStats{failure: k == KindTimeout || k == KindConnection || replyKinds[strings.ToUpper(k)]})
	}
	return c, nil
}

// Close closes the client.
func (c *Conn) Close() error { return c.Client.Close() }

// hook sees every command and pipeline after it ran.
type hook struct{ c *Conn }

func (h hook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h hook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if err != nil && !setupCmd(cmd) {
			h.c.observe(err)
		}
		return err
	}
}

func (h hook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		if err != nil {
			for _, cmd := range cmds {
				if e := cmd.Err(); e != nil && !setupCmd(cmd) {
					h.c.observe(e)
				}
			}
		}
		return err
	}
}

// setupCmd reports the commands go-redis sends on its own when it opens a
// connection (HELLO, CLIENT SETINFO, CLIENT MAINT_NOTIFICATIONS). Older
// servers refuse some of them, harmlessly: counted, they would add three
// "err" replies per connection to a Redis 7.0 and a warning at every start.
// The gateway itself sends neither.
func setupCmd(cmd redis.Cmder) bool {
	switch cmd.Name() {
	case "hello", "client":
		return true
	}
	return false
}

// observe counts one command's error by kind, logs it (rate-limited) and,
// on a cluster, reloads the slot map when the error says it moved.
func (c *Conn) observe(err error) {
	kind := Kind(err)
	if kind == "" {
		return
	}
	v, _ := c.errs.Load(kind)
	ks := v.(*kindStats)
	n := ks.n.Add(1)
	now := time.Now().UnixNano()
	if ks.failure {
		c.lastFail.Store(now)
		c.lastKind.Store(kind)
	}
	if c.cluster != nil && movedKind(kind) {
		c.reload(now)
	}
	if kind == KindCanceled || kind == KindTimeout {
		return // the budgets' business, counted and shown in latency metrics
	}
	if last := ks.logged.Load(); now-last >= int64(logEvery) && ks.logged.CompareAndSwap(last, now) {
		c.log.Warn("redis errors", "kind", kind, "count", n-ks.atLog.Swap(n), "example", err.Error())
	}
}

// movedKind reports whether an error of kind may mean the cluster's map
// changed: a node that stopped answering, a slot served elsewhere now, a
// replica that is no longer (or not yet) a master.
func movedKind(kind string) bool {
	switch kind {
	case KindConnection, KindTimeout, "moved", "ask", "clusterdown", "readonly", "tryagain", "masterdown":
		return true
	}
	return false
}

// reload asks the cluster client to learn the slot map again, at most
// once per reloadEvery: go-redis does so by itself only every 10 s or on a
// MOVED reply, never when a dead master refuses connections.
func (c *Conn) reload(now int64) {
	last := c.lastReload.Load()
	if now-last < int64(reloadEvery) || !c.lastReload.CompareAndSwap(last, now) {
		return
	}
	c.reloads.Add(1)
	c.cluster.ReloadState(context.Background())
}

// Errors returns how many commands failed, by kind (every kind present).
func (c *Conn) Errors() map[string]uint64 {
	out := map[string]uint64{}
	c.errs.Range(func(k, v any) bool {
		out[k.(string)] = v.(*kindStats).n.Load()
		return true
	})
	return out
}

// Reloads counts slot map reloads asked for after errors.
func (c *Conn) Reloads() uint64 { return c.reloads.Load() }

// Health is Redis as /readyz shows it.
type Health struct {
	// Status is ok, degraded (some node or shard is failing, or failure
	// replies were seen in the last 10 s) or down (no node answers).
	Status string `json:"status"`
	Mode   string `json:"mode"`
	// Nodes is each master's (each shard's) answer to PING: ok or the
	// error; a single node reports itself.
	Nodes map[string]string `json:"nodes,omitempty"`
	// Recent is the last failure reply's kind when one came in the last
	// 10 s.
	Recent string `json:"recent_error,omitempty"`
}

// Health pings every master within ctx and adds what the hook saw.
func (c *Conn) Health(ctx context.Context) Health {
	h := Health{Status: "ok", Mode: c.mode, Nodes: map[string]string{}}
	var mu sync.Mutex
	record := func(addr string, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			h.Nodes[addr] = err.Error()
		} else {
			h.Nodes[addr] = "ok"
		}
	}
	if c.cluster != nil {
		err := c.cluster.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
			err := m.Ping(ctx).Err()
			record(m.Options().Addr, err)
			return nil
		})
		if err != nil { // no slot map: no node answered
			h.Nodes["cluster"] = err.Error()
		}
	} else {
		addr := "primary"
		if cl, ok := c.Client.(*redis.Client); ok && c.mode != ModeFailover {
			addr = cl.Options().Addr
		}
		record(addr, c.Client.Ping(ctx).Err())
	}
	ok := 0
	for _, v := range h.Nodes {
		if v == "ok" {
			ok++
		}
	}
	switch {
	case ok == 0:
		h.Status = "down"
	case ok < len(h.Nodes):
		h.Status = "degraded"
	}
	if last := c.lastFail.Load(); last != 0 && time.Since(time.Unix(0, last)) < degradedFor {
		h.Recent, _ = c.lastKind.Load().(string)
		if h.Status == "ok" {
			h.Status = "degraded"
		}
	}
	return h
}

// ErrWrongMode is wrapped by Check's refusals.
var ErrWrongMode = errors.New("redis mode does not match the server")

// Check asks the configured node whether it runs in cluster mode and
// refuses a config that does not match: a single-node client would
// answer CROSSSLOT or MOVED to most calls, and a cluster client cannot
// use a plain node. A node that cannot be reached within ctx is not an
// error: the gateway starts degraded and the breakers take over.
func (c *Conn) Check(ctx context.Context) error {
	var info string
	var err error
	if c.cluster != nil {
		var mu sync.Mutex // ForEachShard calls every shard at once
		err = c.cluster.ForEachShard(ctx, func(ctx context.Context, n *redis.Client) error {
			s, err := n.Info(ctx, "cluster").Result()
			if err == nil {
				mu.Lock()
				info = s
				mu.Unlock()
			}
			return err
		})
		if err != nil && info == "" && strings.Contains(err.Error(), "cluster support disabled") {
			info = "cluster_enabled:0"
		}
	} else {
		info, err = c.Client.Info(ctx, "cluster").Result()
	}
	if info == "" {
		c.log.Warn("redis not reachable at start: starting degraded", "mode", c.mode, "error", errString(err))
		return nil
	}
	enabled := strings.Contains(info, "cluster_enabled:1")
	switch {
	case enabled && c.cluster == nil:
		return fmt.Errorf("%w: the server has cluster_enabled:1, which a %s client cannot follow: set redis.mode: cluster and list a few nodes in redis.addrs", ErrWrongMode, c.mode)
	case !enabled && c.cluster != nil:
		return fmt.Errorf("%w: redis.mode is cluster but the server has cluster_enabled:0: use redis.mode: single with redis.url", ErrWrongMode)
	}
	return nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
