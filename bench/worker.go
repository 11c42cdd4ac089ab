package bench

import (
	"math/rand/v2"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// worker owns one request/response pair and, through the client's
// MaxConns, at most one connection's worth of requests in flight.
type worker struct {
	r     *run
	mix   mix
	keys  []*keyPicker // one per request kind
	tally *tally
	req   fasthttp.Request
	resp  fasthttp.Response
	url   []byte
	body  []byte
	timer *time.Timer
}

var xCacheHeader = []byte("X-Cache")

func newWorker(r *run, id int) *worker {
	w := &worker{r: r, tally: newTally()}
	w.mix = mix{kinds: r.kinds, rng: rand.New(rand.NewPCG(r.cfg.Seed, uint64(id)<<32|0xfffff))}
	for i, k := range r.kinds {
		w.keys = append(w.keys, newKeyPicker(k.req, id, i, r.cfg.Seed, &k.seq))
	}
	if k := r.kinds[0]; len(r.kinds) == 1 && !k.url.hasKey() && !k.body.hasKey() {
		w.prepare(0) // the same request every time: build it once
	}
	return w
}

// prepare sets the request up as kind i, drawing its keys. It starts from
// a reset request: a GET must carry nothing left over from a POST.
func (w *worker) prepare(i int) {
	k := w.r.kinds[i]
	w.req.Reset()
	for _, h := range w.r.cfg.Headers {
		if strings.EqualFold(h.Name, "Host") {
			w.req.Header.SetHost(h.Value)
			continue
		}
		w.req.Header.Add(h.Name, h.Value)
	}
	w.req.Header.SetMethod(k.req.Method)
	var key uint64
	if k.url.hasKey() {
		key = w.keys[i].next()
	}
	w.url = k.url.appendSame(w.url[:0], key)
	w.req.SetRequestURIBytes(w.url)
	if k.req.Body == "" {
		return
	}
	w.req.Header.SetContentType(k.req.ContentType)
	w.body = k.body.appendDrawn(w.body[:0], w.keys[i])
	w.req.SetBodyRaw(w.body)
}

// openLoop sends the requests of the schedule's tickets until the run
// ends. A ticket that came due while every worker was busy is sent late,
// and its latency counts from its due time: that wait is the server's
// doing. A ticket taken early is sent when the worker's timer fires, and
// its latency counts from then: Go timers fire up to ~1 ms late (the
// netpoller sleeps in whole milliseconds), which is the generator's doing
// and would otherwise dominate sub-millisecond latencies. A ticket that
// cannot be started before the end is not sent and shows up as missed.
func (w *worker) openLoop() {
	for {
		_, due := w.r.sched.take()
		if !due.Before(w.r.end) {
			return
		}
		measured := !due.Before(w.r.measureFrom)
		from := due
		if now := time.Now(); due.After(now) {
			// A late timer near the end is no reason to miss the ticket.
			if !w.waitUntil(due) {
				return
			}
			from = time.Now()
			w.tally.wokeLate(measured, from.Sub(due))
		} else {
			if !now.Before(w.r.end) || w.r.stopped() {
				return
			}
			w.tally.backlogged(measured)
		}
		w.do(from, measured)
	}
}

// closedLoop sends back to back: latency counts from the actual send.
func (w *worker) closedLoop() {
	for {
		now := time.Now()
		if !now.Before(w.r.end) || w.r.stopped() {
			return
		}
		if n := w.r.cfg.Count; n > 0 && w.r.issued.Add(1) > n {
			return
		}
		w.do(now, !now.Before(w.r.measureFrom))
	}
}

// waitUntil sleeps until t; false means the run was cancelled.
func (w *worker) waitUntil(t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return !w.r.stopped()
	}
	if w.timer == nil {
		w.timer = time.NewTimer(d)
	} else {
		w.timer.Reset(d)
	}
	select {
	case <-w.timer.C:
		return true
	case <-w.r.stop:
		w.timer.Stop()
		return false
	}
}

// do sends one request; latency counts from `from` (due or send time).
func (w *worker) do(from time.Time, measured bool) {
	if i := w.mix.pick(); len(w.r.kinds) > 1 {
		w.prepare(i)
	} else if k := w.r.kinds[0]; k.url.hasKey() || k.body.hasKey() {
		w.prepare(0)
	}
	w.tally.started(measured)
	err := w.r.client.DoDeadline(&w.req, &w.resp, time.Now().Add(w.r.cfg.Timeout))
	done := time.Now()
	w.tally.record(measured, from, done, w.resp.StatusCode(), w.resp.Header.PeekBytes(xCacheHeader), err)
}
