package testredis

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/tiercel/tiercel/internal/testnet"
)

// StartSentinel starts a Redis Sentinel on a free loopback port that
// monitors primary under the name master (quorum 1), stopped when the test
// ends.
func StartSentinel(t testing.TB, master string, primary *Server) *Server {
	t.Helper()
	s := &Server{t: t, port: testnet.FreePort(t), dir: t.TempDir()}
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	// Sentinel rewrites its config file, so it must be a file of its own.
	conf := filepath.Join(s.dir, "sentinel.conf")
	host, port, _ := net.SplitHostPort(primary.Addr)
	body := fmt.Sprintf("sentinel monitor %s %s %s 1\nsentinel down-after-milliseconds %s 1000\n", master, host, port, master)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	s.first = []string{conf, "--sentinel"}
	s.start()
	t.Cleanup(s.Kill)
	return s
}

// StartReplica starts a redis-server replicating primary, stopped when the
// test ends.
func StartReplica(t testing.TB, primary *Server) *Server {
	t.Helper()
	host, port, _ := net.SplitHostPort(primary.Addr)
	s := &Server{t: t, port: testnet.FreePort(t), dir: t.TempDir(), extra: []string{"--replicaof", host, port}}
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	s.start()
	t.Cleanup(s.Kill)
	return s
}
