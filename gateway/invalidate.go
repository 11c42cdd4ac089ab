package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tiercel/tiercel/invalidation"
)

// invalidateRequest is the body of POST /admin/invalidate.
type invalidateRequest struct {
	// Keys are request paths with their query, as a client would send them
	// ("/api/products/42?color=red"); each is turned into its route's cache
	// key. Routes keyed on headers or on the caller cannot be addressed this
	// way: invalidate them by tag.
	Keys []string `json:"keys"`
	// Tags are surrogate keys, as rendered from the routes' tag templates.
	Tags []string `json:"tags"`
}

type invalidateReply struct {
	Keys int    `json:"keys"`
	Tags int    `json:"tags"`
	L2   string `json:"l2"`
}

// maxInvalidateBody bounds an invalidation request.
const maxInvalidateBody = 1 << 20

func (s *Server) handleInvalidate(w http.ResponseWriter, r *http.Request) {
	g := s.current()
	if g.cache == nil {
		writeAdminError(w, &Error{http.StatusNotFound, "no_cache", "no route has a cache"})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxInvalidateBody+1))
	if err != nil {
		writeAdminError(w, errBadRequest)
		return
	}
	if len(body) > maxInvalidateBody {
		writeAdminError(w, errBodyTooLarge)
		return
	}
	if isEvent(body) {
		s.applyEventBody(w, r, body)
		return
	}
	ev, e := g.shortEvent(body)
	if e != nil {
		writeAdminError(w, e)
		return
	}
	reply := invalidateReply{Keys: len(ev.Keys), Tags: len(ev.Tags), L2: g.cache.L2State()}
	if err := s.applyEvent(r.Context(), ev); err != nil {
		// Applied locally; the shared tier missed it. Say so: the caller
		// (or Kafka's replay) must retry for other replicas' sake.
		reply.L2 = "error: " + err.Error()
	} else if reply.L2 != "disabled" {
		reply.L2 = "ok"
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(reply)
}

// shortEvent turns the short {"keys","tags"} form into the event the
// applier applies. It refuses up front what the applier would log and
// skip (a key no cached GET route answers), since here someone is waiting
// for the answer. The event has no id: nothing replays it, and without
// one its L2 part is a plain generation bump, with no marker left in Redis
// for each post.
func (g *generation) shortEvent(body []byte) (*invalidation.Event, *Error) {
	var req invalidateRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return nil, &Error{http.StatusBadRequest, "bad_json", "cannot decode the invalidation: " + err.Error()}
	}
	if len(req.Keys) == 0 && len(req.Tags) == 0 {
		return nil, &Error{http.StatusBadRequest, "empty", `give "keys" and/or "tags"`}
	}
	for i, k := range req.Keys {
		if _, err := g.keyForPath(k); err != nil {
			return nil, &Error{http.StatusBadRequest, "bad_key", fmt.Sprintf("keys[%d]: %v", i, err)}
		}
	}
	for i, t := range req.Tags {
		if t == "" {
			return nil, &Error{http.StatusBadRequest, "bad_tag", fmt.Sprintf("tags[%d]: empty", i)}
		}
	}
	return &invalidation.Event{Version: invalidation.Version, Type: invalidation.TypeInvalidate,
		Keys: req.Keys, Tags: req.Tags}, nil
}

// isEvent tells a full invalidation event (it has "version") from the
// short {"keys","tags"} form.
func isEvent(body []byte) bool {
	var probe struct {
		Version json.RawMessage `json:"version"`
	}
	return json.Unmarshal(body, &probe) == nil && probe.Version != nil
}

// applyEventBody applies one event in the Kafka schema to this replica (and
// L2): the same JSON a producer would publish, for deployments without
// Kafka and for tools.
func (s *Server) applyEventBody(w http.ResponseWriter, r *http.Request, body []byte) {
	ev, err := invalidation.Parse(body)
	if err != nil {
		writeAdminError(w, &Error{http.StatusBadRequest, "bad_event", err.Error()})
		return
	}
	if err := s.applyEvent(r.Context(), ev); err != nil {
		writeAdminError(w, &Error{http.StatusServiceUnavailable, "not_applied", "applied locally at most; the shared tier failed: " + err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"applied": ev.ID, "type": ev.Type,
		"keys": len(ev.Keys), "tags": len(ev.Tags), "entities": len(ev.Entities), "models": len(ev.Models)})
}

// applyEvent applies ev with the applier the Kafka consumer uses, so that
// an event means the same whichever way it came.
func (s *Server) applyEvent(ctx context.Context, ev *invalidation.Event) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	a := s.applier
	if a == nil {
		a = &applier{s: s}
	}
	return a.Apply(ctx, ev)
}

// keyForPath builds the cache key a GET of path would use.
func (s *generation) keyForPath(path string) ([]byte, error) {
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("%q is not a path", path)
	}
	st := &reqState{}
	var err error
	if st.path, st.query, _, err = s.targets.Parse(nil, []byte(path)); err != nil {
		return nil, fmt.Errorf("%q: %w", path, err)
	}
	idx, _, err := s.router.Match([]byte(fasthttp.MethodGet), st.path, &st.params)
	if err != nil {
		return nil, fmt.Errorf("%q: no GET route matches", path)
	}
	rt := s.routes[idx]
	switch {
	case rt.cache == nil:
		return nil, fmt.Errorf("%q: route %s is not cached", path, rt.name)
	case rt.cache.cfg.Key.Private || len(rt.cache.cfg.Key.Headers) > 0:
		return nil, fmt.Errorf("%q: route %s keys on the caller or on headers; invalidate it by tag", path, rt.name)
	}
	var h fasthttp.RequestHeader // no keyed header: refused above
	return rt.cache.appendCacheKey(nil, &h, st, nil), nil
}

func writeAdminError(w http.ResponseWriter, e *Error) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(e.Status)
	_, _ = w.Write(appendErrorBody(nil, e, nil))
}
