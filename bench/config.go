package bench

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tiercel/tiercel/internal/defaults"
)

// Config describes one load run. Zero values are the documented defaults.
type Config struct {
	// Name labels the run in reports; "" uses the first request's URL.
	Name string

	// URL, Method, Body, Keys, Dist and ZipfS describe the run's single
	// request when Requests is empty (the `tiercel-bench load` flags).
	// Every "{key}" in URL is replaced by one key drawn from Dist over
	// [0, Keys); in Body each "{key}" draws its own. Only http:// and
	// https:// are allowed.
	URL    string
	Method string // default GET
	Body   []byte // nil sends none
	Keys   int    // 0 means the URL has no {key}
	Dist   Dist   // "" is uniform
	ZipfS  float64
	// Requests is a weighted mix of request kinds, all to one host: each
	// request is one of them, drawn by weight. It replaces the single
	// request above.
	Requests []Request
	// Headers are sent with every request, e.g. Authorization. A "Host"
	// header overrides the URL's host in the request (not the dial address).
	Headers []Header
	// Seed makes key sequences reproducible; workers derive theirs from it.
	Seed uint64

	// Rate is the open-loop arrival rate in requests/s. 0 means closed loop:
	// every connection sends back to back, which measures max throughput
	// but hides queueing (coordinated omission), so quote latencies from
	// open-loop runs only.
	Rate float64
	// RampFrom and RampOver ramp an open-loop rate linearly from RampFrom
	// to Rate over the first RampOver of the run (warm-up included); 0
	// RampOver means no ramp.
	RampFrom float64
	RampOver time.Duration
	// Count ends a closed-loop run after that many requests (0: Duration
	// alone ends it), e.g. to touch each of Keys keys once with DistSeq.
	Count int64
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

// Request is one kind of request in a mix.
type Request struct {
	// Method defaults to GET.
	Method string
	// URL may hold "{key}": every placeholder in it takes the same key.
	URL string
	// Body may hold "{key}": each placeholder draws its own key, so a body
	// can name several entities. Empty sends none.
	Body string
	// ContentType is sent with a body; default application/json.
	ContentType string
	// Keys is the number of distinct keys; 0 means no placeholders.
	Keys int
	// KeyBase is added to every key drawn: keys run over
	// [KeyBase, KeyBase+Keys), e.g. 1 for users u1…u1000.
	KeyBase int
	// Dist is the key distribution; "" is uniform.
	Dist Dist
	// ZipfS is the Zipf exponent (> 1); 0 means 1.1, a typical web cache skew.
	ZipfS float64
	// Weight is the request's share of the mix; 0 means 1.
	Weight float64
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
	if len(c.Requests) == 0 {
		c.Requests = []Request{{Method: c.Method, URL: c.URL, Body: string(c.Body), Keys: c.Keys, Dist: c.Dist, ZipfS: c.ZipfS}}
	} else {
		c.Requests = append([]Request(nil), c.Requests...)
	}
	for i := range c.Requests {
		c.Requests[i] = c.Requests[i].withDefaults()
	}
	first := c.Requests[0]
	c.URL, c.Method, c.Keys, c.Dist, c.ZipfS = first.URL, first.Method, first.Keys, first.Dist, first.ZipfS
	defaults.Set(&c.Conns, 64)
	defaults.Set(&c.Duration, 10*time.Second)
	defaults.Set(&c.Timeout, 5*time.Second)
	return c
}

func (r Request) withDefaults() Request {
	defaults.Set(&r.Method, "GET")
	defaults.Set(&r.Dist, DistUniform)
	defaults.Set(&r.ZipfS, 1.1)
	defaults.Set(&r.Weight, 1)
	if r.Body != "" && r.ContentType == "" {
		r.ContentType = "application/json"
	}
	return r
}

func (c Config) validate() error {
	switch {
	case c.Rate < 0 || c.RampFrom < 0:
		return fmt.Errorf("negative rate %v or ramp start %v", c.Rate, c.RampFrom)
	case c.RampOver < 0:
		return fmt.Errorf("negative ramp duration %v", c.RampOver)
	case c.RampOver > 0 && c.Rate == 0:
		return errors.New("a ramp needs an open-loop rate")
	case c.Count < 0 || (c.Count > 0 && c.Rate > 0):
		return fmt.Errorf("count %d: only a closed-loop run can stop after a count", c.Count)
	case c.Conns < 0:
		return fmt.Errorf("negative conns %d", c.Conns)
	case c.Duration < 0 || c.Warmup < 0 || c.Timeout < 0:
		return errors.New("negative duration, warmup or timeout")
	}
	for i, r := range c.Requests {
		if err := r.validate(); err != nil {
			if len(c.Requests) > 1 {
				return fmt.Errorf("request %d: %w", i, err)
			}
			return err
		}
	}
	return nil
}

func (r Request) validate() error {
	switch {
	case r.URL == "":
		return errors.New("no URL")
	case r.Keys < 0:
		return fmt.Errorf("negative keys %d", r.Keys)
	case r.KeyBase < 0:
		return fmt.Errorf("negative key base %d", r.KeyBase)
	case r.Weight < 0:
		return fmt.Errorf("negative weight %v", r.Weight)
	case r.ZipfS <= 1 && r.Dist == DistZipf:
		return fmt.Errorf("zipf exponent %v must be > 1", r.ZipfS)
	case r.Keys == 0 && strings.Contains(r.Body, keyPlaceholder):
		return fmt.Errorf("body has %s but keys is 0", keyPlaceholder)
	}
	return r.Dist.validate()
}
