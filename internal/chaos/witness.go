package chaos

import (
	"errors"
	"net"
	"slices"
	"time"

	"github.com/valyala/fasthttp"
)

// Witness measures what this process and machine add to any request's
// latency: it sends trivial requests, on the same open-loop schedule
// machinery as the load, to a bare server in this process that answers at
// once. The gateway runs in the same process as the load generator, so
// when the machine's cores are busy elsewhere, or the Go scheduler's queues
// are long, every answer is late by about as much as the witness's; a
// gateway that waits too long on a dependency is late on its own, with the
// witness on time. An answer is held to its budget once the witness's
// latency at the same moment is taken out.
type Witness struct {
	ln   net.Listener
	srv  *fasthttp.Server
	done chan struct{}
	load *Load

	samples []Sample // sorted by Due, after Stop
}

// StartWitness starts the bare server and rate requests/s to it.
func StartWitness(rate float64) (*Witness, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	w := &Witness{ln: ln, done: make(chan struct{}),
		srv: &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetStatusCode(fasthttp.StatusNoContent) }}}
	go func() { defer close(w.done); _ = w.srv.Serve(ln) }()
	w.load, err = StartLoad(LoadConfig{Bases: []string{"http://" + ln.Addr().String()}, Rate: rate,
		Targets: []Target{{Name: "witness", Path: func(uint64) string { return "/" }, Expect: []int{fasthttp.StatusNoContent}}}})
	if err != nil {
		w.close()
		return nil, err
	}
	return w, nil
}

// Stop ends the witness's requests and its server.
func (w *Witness) Stop() {
	if w.load == nil {
		return
	}
	w.samples = w.load.Stop()
	w.load = nil
	slices.SortFunc(w.samples, func(a, b Sample) int { return a.Due.Compare(b.Due) })
	w.close()
}

func (w *Witness) close() {
	_ = w.srv.Shutdown()
	<-w.done
}

// window is how long before an answer's due time a witness request may be
// due and still vouch for the conditions that answer met.
const window = 10 * time.Millisecond

// Delay returns the longest witness latency among the witness requests due
// from shortly before from until to: how late the process was in that
// stretch through no fault of the gateway. A witness without an answer
// counts as late until to. Call it after Stop.
func (w *Witness) Delay(from, to time.Time) time.Duration {
	i, _ := slices.BinarySearchFunc(w.samples, from.Add(-window), func(s Sample, t time.Time) int { return s.Due.Compare(t) })
	var d time.Duration
	for ; i < len(w.samples) && !w.samples[i].Due.After(to); i++ {
		s := w.samples[i]
		lat := s.Latency
		if s.Status == 0 {
			lat = max(lat, to.Sub(s.Due))
		}
		d = max(d, lat)
	}
	return d
}

// Quantiles returns the witness's median, 99th percentile and worst
// latency: how busy the machine was. Call it after Stop.
func (w *Witness) Quantiles() (p50, p99, worst time.Duration, err error) {
	if len(w.samples) == 0 {
		return 0, 0, 0, errors.New("no witness samples")
	}
	s := Summarize("witness", w.samples, nil)
	return s.P50, s.P99, s.Max, nil
}
