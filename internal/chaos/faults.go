package chaos

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
)

// Proxy is a TCP proxy on a loopback port in front of one dependency, into
// which faults are injected. It is toxiproxy's proxy used as a library: no
// toxiproxy API server runs, so no extra port and no HTTP round trip stands
// between a test and its fault.
type Proxy struct {
	name string
	p    *toxiproxy.Proxy

	mu   sync.Mutex
	addr string // fixed at start: Down and Up keep the port
}

// NewProxy starts a proxy for upstream (host:port) on a free loopback port.
func NewProxy(name, upstream string) (*Proxy, error) {
	// toxiproxy logs every accepted connection; the suite reports what it
	// sees itself.
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, name, "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		return nil, fmt.Errorf("cannot start fault proxy %s: %w", name, err)
	}
	p.Lock()
	addr := p.Listen // the real port, set by Start
	p.Unlock()
	return &Proxy{name: name, p: p, addr: addr}, nil
}

// Addr is the proxy's host:port: point the client here instead of at the
// dependency.
func (p *Proxy) Addr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addr
}

// Latency delays every answer from the dependency by d (the "downstream"
// direction): a slow dependency that still answers.
func (p *Proxy) Latency(d time.Duration) error {
	return p.add("latency", "downstream", fmt.Sprintf(`{"latency":%d}`, d.Milliseconds()))
}

// Reset answers the next bytes a client sends on any connection, old or
// new, with a TCP RST: a dependency whose connections are torn down.
func (p *Proxy) Reset() error {
	return p.add("reset_peer", "upstream", `{"timeout":0}`)
}

// Blackhole accepts connections and drops every byte sent to the
// dependency without ever closing the connection: a hung dependency, the
// fault that only deadlines survive.
func (p *Proxy) Blackhole() error {
	return p.add("timeout", "upstream", `{"timeout":0}`)
}

func (p *Proxy) add(kind, stream, attrs string) error {
	js := fmt.Sprintf(`{"name":%q,"type":%q,"stream":%q,"toxicity":1,"attributes":%s}`, kind, kind, stream, attrs)
	if _, err := p.p.Toxics.AddToxicJson(strings.NewReader(js)); err != nil {
		return fmt.Errorf("cannot add %s to fault proxy %s: %w", kind, p.name, err)
	}
	return nil
}

// Clear removes every fault. A blackhole closes the connections it held,
// so clients do not read answers to requests it swallowed.
func (p *Proxy) Clear() {
	p.p.Toxics.ResetToxics(context.Background())
}

// Down closes the listener and every connection: the port refuses, as if
// the dependency's host were gone.
func (p *Proxy) Down() { p.p.Stop() }

// Up listens again on the same port after Down.
func (p *Proxy) Up() error {
	if err := p.p.Start(); err != nil && !errors.Is(err, toxiproxy.ErrProxyAlreadyStarted) {
		return fmt.Errorf("cannot restart fault proxy %s on %s: %w", p.name, p.Addr(), err)
	}
	return nil
}

// Close stops the proxy and closes its connections.
func (p *Proxy) Close() {
	p.Clear()
	p.p.Stop()
}
