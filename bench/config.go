package bench

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Config describes one load run. Zero values are the documented defaults.
type Config struct {
	// URL is the target; every "{key}" in it is replaced by a key number
	// drawn from Dist over [0, Keys). Only http:// and https:// are allowed.
	URL string
	// Method defaults to GET.
	Method string
	// Headers are sent with every request, e.g. Authorization. A "Host"
	// header overrides the URL's host in the request (not the dial address).
	Headers []Header
	// Body is sent with every request; nil sends none.
	Body []byte

	// Keys is the number of distinct keys substituted for {key}; 0 means the
	// URL has no {key}.
	Keys int
	// Dist is the key distribution; "" is uniform.
	Dist Dist
	// ZipfS is the Zipf exponent (> 1); 0 means 1.1, a typical web cache skew.
	ZipfS float64
	// Seed makes key sequences reproducible; workers derive theirs from it.
	Seed uint64

	// Rate is the open-loop arrival rate in requests/s. 0 means closed loop:
	// every connection sends back to back, which measures max throughput
	// but hides queueing (coordinated omission), so quote latencies from
	// open-loop runs only.
	Rate float64
	// Conns is both the number of workers and the client's MaxConns; 0 means
	// 64. In open loop it caps the requests in flight: when all are busy the
	// schedule backs up and the backlog shows in the latencies.
	Conns int
	// Duration is the measured part of the run; 0 means 10 s.
	Duration time.Duration
	// Warmup runs the same load before Duration without recording it, to
	// fill caches and open connections; 0 means none.
	Warmup time.Duration
	// Timeout bounds each request; 0 means 5 s. A timeout is a transport
	// error, and its latency (at least Timeout) is still recorded.
	Timeout time.Duration

	// Progress receives a one-line status each second (stderr in the CLI);
	// nil prints nothing.
	Progress io.Writer
}

// Header is one request header.
type Header struct {
	Name, Value string
}

// ParseHeader parses "Name: value", as curl's -H.
func ParseHeader(s string) (Header, error) {
	name, value, ok := strings.Cut(s, ":")
	name = strings.TrimSpace(name)
	if !ok || name == "" {
		return Header{}, fmt.Errorf("cannot parse header %q: want \"Name: value\"", s)
	}
	return Header{Name: name, Value: strings.TrimSpace(value)}, nil
}

func (c Config) withDefaults() Config {
	if c.Method == "" {
		c.Method = "GET"
	}
	if c.Dist == "" {
		c.Dist = DistUniform
	}
	if c.ZipfS == 0 {
		c.ZipfS = 1.1
	}
	if c.Conns == 0 {
		c.Conns = 64
	}
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Second
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.URL == "":
		return errors.New("no URL")
	case c.Rate < 0:
		return fmt.Errorf("negative rate %v", c.Rate)
	case c.Conns < 0:
		return fmt.Errorf("negative conns %d", c.Conns)
	case c.Duration < 0 || c.Warmup < 0 || c.Timeout < 0:
		return errors.New("negative duration, warmup or timeout")
	case c.Keys < 0:
		return fmt.Errorf("negative keys %d", c.Keys)
	case c.ZipfS <= 1 && c.Dist == DistZipf:
		return fmt.Errorf("zipf exponent %v must be > 1", c.ZipfS)
	}
	return c.Dist.validate()
}
