// Package testkafka runs a Kafka-protocol broker inside the test process,
// for integration tests of Tiercel's Kafka code: franz-go's kfake, one
// broker on a free loopback port, persisting to a temporary directory so
// that Restart keeps the topics and their messages. Kcat produces with the
// real kcat binary (librdkafka), an independent client to cross-check ours.
//
// It must never be imported by non-test code.
package testkafka

import (
	"bytes"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/tiercel/tiercel/internal/testnet"
)

// Cluster is one in-process kfake broker.
type Cluster struct {
	t    testing.TB
	port int
	opts []kfake.Opt

	mu sync.Mutex
	c  *kfake.Cluster // nil while killed
}

// Opt configures Start.
type Opt func(*config)

type config struct {
	partitions int32
	topics     []string
}

// Topic seeds topic with partitions partitions (default: one topic,
// "tiercel.invalidations", with 3 partitions).
func Topic(topic string, partitions int32) Opt {
	return func(c *config) {
		c.topics = append(c.topics, topic)
		c.partitions = partitions
	}
}

// Start starts a broker on a free loopback port and closes it when the
// test ends. It persists to a temporary directory, so Restart
// keeps every message.
func Start(t testing.TB, opts ...Opt) *Cluster {
	t.Helper()
	cfg := config{partitions: 3}
	for _, o := range opts {
		o(&cfg)
	}
	if len(cfg.topics) == 0 {
		cfg.topics = []string{"tiercel.invalidations"}
	}
	c := &Cluster{t: t, port: testnet.FreePort(t)}
	c.opts = []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(c.port),
		kfake.SeedTopics(cfg.partitions, cfg.topics...),
		kfake.DataDir(t.TempDir()),
	}
	c.start()
	t.Cleanup(c.Kill)
	return c
}

func (c *Cluster) start() {
	c.t.Helper()
	kc, err := kfake.NewCluster(c.opts...)
	if err != nil {
		c.t.Fatalf("cannot start kfake on port %d: %v", c.port, err)
	}
	c.mu.Lock()
	c.c = kc
	c.mu.Unlock()
}

// Addr is the broker's host:port.
func (c *Cluster) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)) }

// Kill closes the broker: connections drop, the port refuses; the data
// is saved first. Safe to call twice.
func (c *Cluster) Kill() {
	c.mu.Lock()
	kc := c.c
	c.c = nil
	c.mu.Unlock()
	if kc != nil {
		kc.Close()
	}
}

// Restart kills the broker if it runs and starts it again on the same port
// and data directory: clients reconnect to the same address and, unless
// Ephemeral, find every message produced before.
func (c *Cluster) Restart() {
	c.t.Helper()
	c.Kill()
	c.start()
}

// Kcat produces one message with the real kcat binary (librdkafka), waiting
// for the broker's acknowledgement; extra are more kcat arguments (e.g.
// "-X", "partitioner=murmur2_random"). It fails the test when kcat is
// missing: `make test` installs it.
func Kcat(t testing.TB, addr, topic, key string, value []byte, extra ...string) {
	t.Helper()
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Fatalf("kcat not found in PATH (run `make test`, which installs it): %v", err)
	}
	// One message per run: -D with a byte JSON never holds raw, so the
	// value's own newlines do not split it.
	args := []string{"-P", "-b", addr, "-t", topic, "-D", "\x01", "-X", "acks=all", "-X", "message.timeout.ms=10000"}
	if key != "" {
		args = append(args, "-k", key)
	}
	args = append(args, extra...)
	cmd := exec.Command("kcat", args...)
	cmd.Stdin = bytes.NewReader(value)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kcat %v: %v\n%s", args, err, out)
	}
}
