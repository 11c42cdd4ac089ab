// Package testredis starts real redis-server processes for tests.
//
// Integration tests in Tiercel run against the Debian redis-server binary, never
// a mock: this package finds a free loopback port, starts the server without
// persistence, waits until it answers PING and stops it when the test ends. It
// also injects the faults the cache and rate limiter must survive: kill,
// restart on the same port, SIGSTOP (a hung Redis) and SIGCONT.
//
// It must never be imported by non-test code.
package testredis

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tiercel/tiercel/internal/testnet"
)

// Server is one redis-server process on 127.0.0.1.
type Server struct {
	Addr string

	t    testing.TB
	port int
	dir  string
	cmd  *exec.Cmd
	// first are arguments before the options (a config file, --sentinel);
	// extra come after them (cluster mode).
	first, extra []string
}

// Start starts a redis-server on a free loopback port and registers its
// shutdown with t.Cleanup. It fails the test when redis-server is missing:
// `make test` installs it.
func Start(t testing.TB) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server not found in PATH (run `make test`, which installs it): %v", err)
	}
	s := &Server{t: t, port: testnet.FreePort(t), dir: t.TempDir()}
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	s.start()
	t.Cleanup(s.Kill)
	return s
}

func (s *Server) start() {
	s.t.Helper()
	args := []string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
		"--protected-mode", "no",
		// The log goes to a file: in test output it would bury the failures.
		"--logfile", filepath.Join(s.dir, "redis.log"),
	}
	s.cmd = exec.Command("redis-server", append(append(s.first, args...), s.extra...)...)
	s.cmd.Stderr = os.Stderr
	// Own process group, so a killed test binary does not leave it behind
	// attached to our terminal signals.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("cannot start redis-server: %v", err)
	}
	s.waitReady()
}

func (s *Server) waitReady() {
	s.t.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on %s not ready: %v", s.Addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Client returns a go-redis client for the server, closed when the test ends.
func (s *Server) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	s.t.Cleanup(func() { c.Close() })
	return c
}

// URL is the server's redis:// URL (database 0).
func (s *Server) URL() string { return fmt.Sprintf("redis://%s/0", s.Addr) }

// Kill stops the server with SIGKILL and waits for it. Safe to call twice.
func (s *Server) Kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGCONT) // a stopped process must run to die cleanly
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Restart starts the server again on the same port after Kill. The data is
// gone: persistence is off.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	s.start()
}

// Pause sends SIGSTOP: the port stays open and accepts connections, but
// nothing is answered, which is what a hung or overloaded Redis looks like.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume sends SIGCONT after Pause.
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	s.t.Helper()
	if s.cmd == nil || s.cmd.Process == nil {
		s.t.Fatalf("redis-server is not running")
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("cannot signal redis-server: %v", err)
	}
}
