package testredis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tiercel/tiercel/internal/testnet"
)

// Cluster is a real Redis Cluster of redis-server processes on 127.0.0.1:
// masters, each with replicas, made by `redis-cli --cluster create`.
type Cluster struct {
	t     testing.TB
	Nodes []*Server
}

// NodeTimeout is the cluster's cluster-node-timeout: a master unreachable
// for this long is failed over to its replica. Short, so that failover
// tests finish in seconds (Redis's default is 15 s).
const NodeTimeout = 1000 * time.Millisecond

var clusterOnce sync.Mutex

// StartCluster starts masters*(1+replicas) cluster-enabled redis-servers on
// free loopback ports, joins them into one cluster with every slot
// covered, and waits until every node reports cluster_state:ok. Everything
// is stopped when the test ends.
func StartCluster(t testing.TB, masters, replicas int) *Cluster {
	t.Helper()
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s not found in PATH (run `make test`, which installs it): %v", bin, err)
		}
	}
	c := &Cluster{t: t}
	n := masters * (1 + replicas)
	args := []string{"--cluster", "create"}
	for range n {
		s := &Server{t: t, port: testnet.FreePort(t), dir: t.TempDir(),
			extra: []string{
				"--cluster-enabled", "yes",
				"--cluster-config-file", "nodes.conf",
				"--cluster-node-timeout", strconv.Itoa(int(NodeTimeout / time.Millisecond)),
				"--cluster-port", strconv.Itoa(testnet.FreePort(t)),
				// A replica with stale data may still be promoted: the
				// tests kill masters on purpose.
				"--cluster-replica-validity-factor", "0",
			}}
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
		s.start()
		t.Cleanup(s.Kill)
		c.Nodes = append(c.Nodes, s)
		args = append(args, s.Addr)
	}
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	// One creation at a time keeps redis-cli's output readable on failure.
	clusterOnce.Lock()
	out, err := exec.Command("redis-cli", args...).CombinedOutput()
	clusterOnce.Unlock()
	if err != nil {
		t.Fatalf("cannot create the redis cluster: %v\n%s", err, out)
	}
	c.WaitHealthy()
	return c
}

// Addrs returns every node's address (masters and replicas).
func (c *Cluster) Addrs() []string {
	addrs := make([]string, 0, len(c.Nodes))
	for _, s := range c.Nodes {
		addrs = append(addrs, s.Addr)
	}
	return addrs
}

// Client returns a cluster client seeded with every node, closed when the
// test ends.
func (c *Cluster) Client() *redis.ClusterClient {
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	c.t.Cleanup(func() { cc.Close() })
	return cc
}

// Masters returns the nodes that are masters now, as the nodes that are
// running see it.
func (c *Cluster) Masters() []*Server {
	c.t.Helper()
	var masters []*Server
	for _, s := range c.Nodes {
		if !s.Running() {
			continue
		}
		if role, _ := s.info("role"); role == "master" {
			masters = append(masters, s)
		}
	}
	return masters
}

// MasterFor returns the running master that serves key's slot.
func (c *Cluster) MasterFor(key string) *Server {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, m := range c.Masters() {
		cl := redis.NewClient(&redis.Options{Addr: m.Addr, MaxRetries: -1})
		slot, err := cl.ClusterKeySlot(ctx, key).Result()
		if err != nil {
			cl.Close()
			continue
		}
		ranges, err := masterRanges(ctx, cl)
		cl.Close()
		if err != nil {
			continue
		}
		for _, r := range ranges {
			if r.start <= slot && slot <= r.end {
				for _, s := range c.Nodes {
					if s.Addr == r.master {
						return s
					}
				}
			}
		}
	}
	c.t.Fatalf("no master serves %q", key)
	return nil
}

// WaitHealthy waits until every running node says cluster_state:ok and
// agrees that every slot is served by a master that is running.
func (c *Cluster) WaitHealthy() {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		if last = c.unhealthy(); last == "" {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("redis cluster not healthy after 30s: %s", last)
}

// Healthy reports, without failing the test, why the cluster is not
// healthy (as WaitHealthy means it), or nil: for a goroutine that times a
// failover while the test goroutine does something else.
func (c *Cluster) Healthy() error {
	if why := c.unhealthy(); why != "" {
		return errors.New(why)
	}
	return nil
}

// unhealthy says why the cluster is not healthy yet, or "".
func (c *Cluster) unhealthy() string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	running := map[string]bool{}
	for _, s := range c.Nodes {
		running[s.Addr] = s.Running()
	}
	for _, s := range c.Nodes {
		if !running[s.Addr] {
			continue
		}
		cl := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
		info, err := cl.ClusterInfo(ctx).Result()
		if err != nil {
			cl.Close()
			return fmt.Sprintf("%s: %v", s.Addr, err)
		}
		if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_slots_ok:16384") {
			cl.Close()
			return fmt.Sprintf("%s: cluster info %q", s.Addr, firstLines(info, 3))
		}
		ranges, err := masterRanges(ctx, cl)
		cl.Close()
		if err != nil {
			return fmt.Sprintf("%s: %v", s.Addr, err)
		}
		covered := int64(0)
		for _, r := range ranges {
			if r.master == "" || !running[r.master] {
				return fmt.Sprintf("%s: slots %d-%d on a stopped master", s.Addr, r.start, r.end)
			}
			covered += r.end - r.start + 1
		}
		if covered != 16384 {
			return fmt.Sprintf("%s: %d slots covered", s.Addr, covered)
		}
	}
	return ""
}

// slotRange is a range of slots and the address of the master serving it
// ("" when the shard has no master that is online).
type slotRange struct {
	start, end int64
	master     string
}

// masterRanges reads the slot map as one node sees it (CLUSTER SHARDS).
func masterRanges(ctx context.Context, cl *redis.Client) ([]slotRange, error) {
	shards, err := cl.ClusterShards(ctx).Result()
	if err != nil {
		return nil, err
	}
	var out []slotRange
	for _, sh := range shards {
		master := ""
		for _, n := range sh.Nodes {
			if n.Role == "master" && n.Health == "online" {
				master = net.JoinHostPort(n.IP, strconv.FormatInt(n.Port, 10))
			}
		}
		for _, r := range sh.Slots {
			out = append(out, slotRange{start: r.Start, end: r.End, master: master})
		}
	}
	return out, nil
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, " ")
}

// info returns one field of INFO from s.
func (s *Server) info(field string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	cl := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer cl.Close()
	out, err := cl.Info(ctx, "replication").Result()
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("no %s in INFO", field)
}

// Running reports whether the process was started and not killed.
func (s *Server) Running() bool { return s.cmd != nil && s.cmd.Process != nil }

// KillMaster kills (SIGKILL) the master serving key and returns it.
func (c *Cluster) KillMaster(key string) *Server {
	c.t.Helper()
	m := c.MasterFor(key)
	m.Kill()
	return m
}
