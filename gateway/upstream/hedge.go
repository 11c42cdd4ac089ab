package upstream

import (
	"time"

	"github.com/valyala/fasthttp"
)

// leg is one of a hedged request's attempts. Each leg owns a copy of the
// request and its own response, because the losing leg may still be running
// when Do returns; what it holds is then left to the garbage collector
// rather than returned to fasthttp's pools, which a late write would corrupt.
type leg struct {
	t     *target
	hedge bool // sent by hedge_after, not as a retry of a failed first leg
	req   *fasthttp.Request
	resp  *fasthttp.Response
	err   error
}

// doHedged sends req to one target and, if no response has arrived after
// hedgeAfter (or the first attempt failed before that in a way that allows
// another), to a second target; the first response wins. It is used only
// for idempotent requests, which two targets may both serve.
func (p *Pool) doHedged(req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time, start time.Time) (Result, error) {
	results := make(chan *leg, 2) // buffered: a loser never blocks
	var tried triedSet
	launch := func(hedge bool) {
		l := &leg{t: p.pick(&tried), hedge: hedge, req: &fasthttp.Request{}, resp: &fasthttp.Response{}}
		req.CopyTo(l.req)
		go func() {
			l.err = p.attempt(l.t, l.req, l.resp, deadline)
			results <- l
		}()
	}
	launch(false)
	launched, pending := 1, 1
	timer := time.NewTimer(p.hedgeAfter)
	defer timer.Stop()
	var (
		res  Result
		kind failure
		err  error
	)
	for pending > 0 {
		select {
		case <-timer.C:
			if launched < 2 && time.Now().Before(deadline) {
				p.hedges.Add(1)
				launch(true)
				launched++
				pending++
			}
		case l := <-results:
			pending--
			res.Attempts++
			res.Target = l.t.name
			if l.err == nil {
				if l.hedge {
					p.hedgeWins.Add(1)
				}
				l.resp.CopyTo(resp)
				res.Duration = time.Since(start)
				return res, nil
			}
			err = l.err
			kind = classify(err, deadline)
			switch kind {
			case failConnect:
				p.recordFailure(l.t, err)
			case failOpen:
				p.rejected.Add(1)
			}
			// A first leg that failed fast leaves the hedge to act as the
			// retry, at once.
			if launched < 2 && kind.retryable() {
				launch(false) // a retry, not a hedge
				launched++
				pending++
			}
		}
	}
	res.Duration = time.Since(start)
	return res, p.wrapError(res, kind, err)
}
