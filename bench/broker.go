package bench

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Broker is a Kafka-protocol broker (franz-go's kfake, in memory, on
// loopback) for invalidation storms sent through Kafka: the tool runs it
// as a child process (`tiercel-bench kafka`), pinned with the servers.
type Broker struct {
	c *kfake.Cluster
}

// NewBroker listens on 127.0.0.1:port with topic seeded.
func NewBroker(port int, topic string, partitions int32) (*Broker, error) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.SeedTopics(partitions, topic))
	if err != nil {
		return nil, fmt.Errorf("cannot start the Kafka broker: %w", err)
	}
	return &Broker{c: c}, nil
}

// Close stops the broker.
func (b *Broker) Close() { b.c.Close() }

// benchTopic is the invalidation topic of the generated gateways.
const benchTopic = "tiercel.invalidations"

// startBroker runs `tiercel-bench kafka` for the stack's gateway. Its CPU
// time is not the gateway's, so it is not counted.
func (s *Stack) startBroker(o StackOptions) (string, error) {
	addr, err := freeAddr()
	if err != nil {
		return "", err
	}
	_, port, _ := net.SplitHostPort(addr)
	if _, err := strconv.Atoi(port); err != nil {
		return "", fmt.Errorf("cannot start the Kafka broker: port %q: %w", port, err)
	}
	_, err = s.start(ProcSpec{
		Name: "kafka", Path: o.Self, Args: []string{"kafka", "-port", port, "-topic", benchTopic},
		Env: o.env(), CPU: o.CPU, Addr: addr, LogPath: filepath.Join(o.Dir, "kafka.log"),
	}, false)
	return addr, err
}
