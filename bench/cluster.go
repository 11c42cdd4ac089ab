package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// clusterWait bounds how long a new Redis Cluster may take to report
// cluster_state:ok on every node.
const clusterWait = 15 * time.Second

// startRedisCluster runs masters cluster-enabled redis-servers (no
// replicas, no persistence), joins them with `redis-cli --cluster create`
// and waits until every node says cluster_state:ok. Like startRedis, the
// servers are pinned with the gateway and their CPU time counts with its.
func (s *Stack) startRedisCluster(o StackOptions, masters int) ([]string, error) {
	var addrs []string
	for i := range masters {
		addr, err1 := freeAddr()
		bus, err2 := freeAddr()
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		_, port, _ := net.SplitHostPort(addr)
		_, busPort, _ := net.SplitHostPort(bus)
		name := fmt.Sprintf("redis-cluster-%d", i)
		if _, err := s.start(ProcSpec{
			Name: name, Path: "redis-server", CPU: o.CPU, Addr: addr, LogPath: filepath.Join(o.Dir, name+".log"),
			Args: []string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
				"--dir", o.Dir, "--cluster-enabled", "yes", "--cluster-port", busPort,
				"--cluster-config-file", filepath.Join(o.Dir, name+"-nodes.conf")},
		}, true); err != nil {
			return nil, err
		}
		addrs = append(addrs, addr)
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("cannot create the redis cluster: %w\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterWait)
	defer cancel()
	for _, a := range addrs {
		if err := waitClusterOK(ctx, a); err != nil {
			return nil, err
		}
	}
	return addrs, nil
}

// waitClusterOK polls one node's CLUSTER INFO until it says
// cluster_state:ok, or ctx ends.
func waitClusterOK(ctx context.Context, addr string) error {
	host, port, _ := net.SplitHostPort(addr)
	var last string
	for {
		out, err := exec.CommandContext(ctx, "redis-cli", "-h", host, "-p", port, "cluster", "info").Output()
		last = string(out)
		if err == nil && strings.Contains(last, "cluster_state:ok") {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("redis cluster node %s not ok after %s: %q", addr, clusterWait, firstLine(last))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return strings.TrimSpace(line)
}
