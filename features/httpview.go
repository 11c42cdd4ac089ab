package features

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/tiercel/tiercel/cache"
	"github.com/tiercel/tiercel/internal/jsonstr"
)

// http views: rows come from an upstream speaking Feast's
// /get-online-features and are cached in L1 and L2 through the shared
// cache. Each missing row is a cache.Fetch (so L2 is read, and fills are
// coalesced across requests); the fills of one Get meet in an httpBatch,
// which makes one upstream call for all of them.

// readHTTP answers the http-view misses of a Get: one batch per view, each
// bounded by ctx and the view's budget.
func (s *Store) readHTTP(ctx context.Context, res *Result, misses []miss, now, start time.Time) {
	q := res.Query
	// One Fetch per distinct row key: a duplicate would join its twin's
	// flight and wait for a batch that waits for it.
	type at struct{ view, i int }
	byKey := map[string]at{}
	perView := map[int]*batchReq{}
	// Read now: the batch's call runs on a context of its own.
	fwd := authorizationOf(ctx)
	for _, m := range misses {
		if _, dup := byKey[m.key]; dup {
			continue
		}
		br := perView[m.qv]
		if br == nil {
			v := q.views[m.qv].v
			br = &batchReq{timeout: v.timeout}
			auth := v.authHeader
			if v.forwardAuth {
				auth = fwd
			}
			br.call = func(ctx context.Context, ps []*pendingFill) { s.callView(ctx, v, auth, ps) }
			perView[m.qv] = br
		}
		qv := &q.views[m.qv]
		entity := make([]string, len(qv.cols))
		for k, c := range qv.cols {
			entity[k] = q.Rows[m.row][c]
		}
		byKey[m.key] = at{m.qv, len(br.keys)}
		br.keys = append(br.keys, m.key)
		br.args = append(br.args, entity)
	}
	var wg sync.WaitGroup
	for vi, br := range perView {
		wg.Go(func() {
			vctx, cancel := budgetCtx(ctx, start, q.views[vi].v.budget)
			if cancel != nil {
				defer cancel()
			}
			s.fetchBatched(vctx, s.cache, br, now)
		})
	}
	wg.Wait()
	nowNs := now.UnixNano()
	var rv rowView
	for _, m := range misses {
		w := byKey[m.key]
		br := perView[w.view]
		e := br.entries[w.i]
		qv := &q.views[m.qv]
		if e == nil || !s.fillRow(res, qv, m.row, e.Value, nowNs, &rv) {
			fallback(res, qv, m.row, reasonOf(br.errs[w.i]))
		}
	}
}

// callView makes one upstream call for ps, through the view's breaker,
// and settles every one of them. auth is the call's Authorization header
// ("": none).
func (s *Store) callView(ctx context.Context, v *view, auth string, ps []*pendingFill) {
	now := s.now()
	done, err := v.br.allow()
	var encs [][]byte
	if err == nil {
		s.st.upstreamCalls.Add(1)
		encs, err = s.callUpstream(ctx, v, auth, ps)
		done(err)
		if err != nil {
			s.st.upstreamErrors.Add(1)
			s.log.Debug("features: upstream failed", "view", v.name, "err", err)
		}
	}
	if err != nil {
		for _, p := range ps {
			p.err = err
		}
		return
	}
	for i, p := range ps {
		p.entry = &cache.Entry{Value: encs[i], StoredAt: now, FreshUntil: now.Add(v.ttl),
			StaleUntil: now.Add(2 * v.ttl), ErrorUntil: now.Add(3 * v.ttl)}
	}
}

type feastResponse struct {
	Metadata struct {
		FeatureNames []string `json:"feature_names"`
	} `json:"metadata"`
	Results []struct {
		Values          []json.RawMessage `json:"values"`
		Statuses        []string          `json:"statuses"`
		EventTimestamps []string          `json:"event_timestamps"`
	} `json:"results"`
}

func (s *Store) callUpstream(ctx context.Context, v *view, auth string, ps []*pendingFill) ([][]byte, error) {
	body := []byte(`{"features":[`)
	for i, f := range v.features {
		if i > 0 {
			body = append(body, ',')
		}
		body = jsonstr.Append(body, v.upstreamView+":"+f.name)
	}
	body = append(body, `],"entities":{`...)
	for k, jk := range v.keys {
		if k > 0 {
			body = append(body, ',')
		}
		body = jsonstr.Append(body, jk.name)
		body = append(body, ":["...)
		for i, p := range ps {
			if i > 0 {
				body = append(body, ',')
			}
			body = appendKeyJSON(body, jk.typ, p.arg.([]string)[k])
		}
		body = append(body, ']')
	}
	body = append(body, `},"full_feature_names":false}`...)
	status, data, err := s.post(ctx, v.callURL, auth, body, 64<<20)
	if err == nil && status != http.StatusOK {
		err = fmt.Errorf("status %d", status)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot call upstream %s: %w", v.url, err)
	}
	var fr feastResponse
	if err := json.Unmarshal(data, &fr); err != nil {
		return nil, fmt.Errorf("cannot parse upstream answer: %w", err)
	}
	return s.upstreamRows(v, &fr, len(ps))
}

// upstreamRows turns a Feast answer's columns into n encoded rows. A value
// keeps the upstream's status: PRESENT, or OUTSIDE_MAX_AGE with its value
// (Feast's Go server keeps it: go/internal/feast/onlineserving/serving.go);
// any other status is absent. A row's event time is the latest of its
// values'; none (no event_timestamps, or the epoch Feast sends for
// nothing) is unknown, 0.
func (s *Store) upstreamRows(v *view, fr *feastResponse, n int) ([][]byte, error) {
	if len(fr.Results) != len(fr.Metadata.FeatureNames) {
		return nil, fmt.Errorf("cannot use upstream answer: %d results for %d names", len(fr.Results), len(fr.Metadata.FeatureNames))
	}
	col := make([]int, len(v.features))
	for fi := range col {
		col[fi] = -1
	}
	for c, name := range fr.Metadata.FeatureNames {
		if fi, ok := v.byName[name]; ok {
			col[fi] = c
		} else if fi, ok := v.byName[trimView(name, v.upstreamView)]; ok {
			col[fi] = c
		}
	}
	rows := make([][]byte, n)
	var canon []byte
	var outside []int
	for i := range n {
		var ts int64
		outside = outside[:0]
		vals := make([][]byte, len(v.features))
		for fi, f := range v.features {
			c := col[fi]
			if c < 0 || i >= len(fr.Results[c].Values) {
				continue
			}
			r := &fr.Results[c]
			tooOld := false
			if i < len(r.Statuses) {
				switch r.Statuses[i] {
				case "PRESENT":
				case "OUTSIDE_MAX_AGE":
					tooOld = true
				default:
					continue
				}
			}
			raw := r.Values[i]
			if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
				continue
			}
			var err error
			if canon, err = f.typ.canonJSON(canon[:0], raw); err != nil {
				s.st.badStoredValues.Add(1)
				continue
			}
			vals[fi] = bytes.Clone(canon)
			if tooOld {
				outside = append(outside, fi)
			}
			if i < len(r.EventTimestamps) {
				// The latest of the row's features; a time that is no
				// event time (before the epoch, past 2262) is unknown.
				if t, err := time.Parse(time.RFC3339Nano, r.EventTimestamps[i]); err == nil {
					if ns, ok := eventNanos(t); ok && ns > ts {
						ts = ns
					}
				}
			}
		}
		var rb rowBuilder
		rb.begin(nil, ts)
		for _, val := range vals {
			if val == nil {
				rb.absent()
			} else {
				rb.value(val)
			}
		}
		rb.outside(outside)
		rows[i] = rb.b
	}
	return rows, nil
}

func trimView(name, view string) string {
	if len(name) > len(view)+2 && name[:len(view)] == view && name[len(view):len(view)+2] == "__" {
		return name[len(view)+2:]
	}
	return name
}
