package testredis

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SharedCluster is one Redis Cluster for every test of a package, started
// on first use: a 3+3 cluster takes seconds to create, too long to pay in
// each test of a suite that runs with -race on two cores. TestMain calls
// Stop after m.Run.
//
// Its users share its data: each calls Flush first, so they must not run
// in parallel with one another, and none may kill its nodes (a failover
// test starts its own cluster).
type SharedCluster struct {
	Masters, Replicas int

	once sync.Once
	tb   *mainTB
	c    *Cluster
	err  error
}

// Get returns the cluster, starting it on the first call, bound to t: its
// failures fail t and its clients close when t ends.
func (s *SharedCluster) Get(t testing.TB) *Cluster {
	t.Helper()
	s.once.Do(s.start)
	if s.err != nil {
		t.Fatalf("shared redis cluster: %v", s.err)
	}
	return &Cluster{t: t, Nodes: s.c.Nodes}
}

func (s *SharedCluster) start() {
	s.tb = &mainTB{}
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(mainFatal)
			if !ok {
				panic(r)
			}
			s.err = errors.New(string(f))
		}
	}()
	s.c = StartCluster(s.tb, s.Masters, s.Replicas)
}

// Stop kills the nodes and removes their directories, if Get started them.
func (s *SharedCluster) Stop() {
	if s.tb != nil {
		s.tb.cleanup()
	}
}

// Flush empties every master (their replicas follow), so that a test sees
// none of the keys its predecessors left.
func (c *Cluster) Flush() {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, m := range c.Masters() {
		cl := redis.NewClient(&redis.Options{Addr: m.Addr})
		err := cl.FlushAll(ctx).Err()
		cl.Close()
		if err != nil {
			c.t.Fatalf("cannot flush %s: %v", m.Addr, err)
		}
	}
}

// mainFatal is what mainTB.Fatalf panics with, for SharedCluster.start to
// recover: there is no test to fail yet.
type mainFatal string

// mainTB is the testing.TB of what outlives one test. Only the methods
// StartCluster and Server call are implemented; the embedded nil TB makes
// any other call panic, which a new use would show at once.
type mainTB struct {
	testing.TB
	mu       sync.Mutex
	cleanups []func()
}

func (m *mainTB) Helper() {}

func (m *mainTB) Fatalf(format string, args ...any) { panic(mainFatal(fmt.Sprintf(format, args...))) }

func (m *mainTB) Cleanup(f func()) {
	m.mu.Lock()
	m.cleanups = append(m.cleanups, f)
	m.mu.Unlock()
}

func (m *mainTB) TempDir() string {
	dir, err := os.MkdirTemp("", "testredis-")
	if err != nil {
		m.Fatalf("cannot make a temporary directory: %v", err)
	}
	m.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// cleanup runs the cleanups last first, as testing does.
func (m *mainTB) cleanup() {
	m.mu.Lock()
	fs := m.cleanups
	m.cleanups = nil
	m.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}
