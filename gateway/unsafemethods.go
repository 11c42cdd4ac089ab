package gateway

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tiercel/tiercel/cache"
	"github.com/tiercel/tiercel/gateway/httpcache"
	"github.com/tiercel/tiercel/gateway/router"
	"github.com/tiercel/tiercel/invalidation"
)

// Invalidation after writes. RFC 9111 §4.4: a cache must invalidate the
// target URI of an unsafe request that got a non-error answer, and may
// invalidate the URIs its Location and Content-Location name, only if they
// share the target's host (httpcache.SameOriginPath). The gateway does it
// on every route, cached or not, without configuration: every stored entry
// carries its path's tag (httpcache.PathTag). A route's invalidate_tags are
// dropped in the same event.

// invalidateAfterWrite drops what a write through the gateway may have
// changed once its answer is known: the path tags of the target URI and of
// a same-origin Location and Content-Location after a 2xx or 3xx to an
// unsafe method, and the route's invalidate_tags after a 2xx to any method
// but GET and HEAD. They are applied to this replica (L1, and L2 once per
// event id), and published as one event, under the same id, so that every
// other replica drops its L1 copies (their L2 part is a no-op).
//
// The answer waits for neither past deadline, but neither is bound by it:
// the origin may have used up the write's budget, and an invalidation the
// write caused must still happen (RFC 9111 §4.4). What is left at deadline
// goes on in the background, the L2 bump under the cache's
// invalidate_timeout (meanwhile this replica serves no L2 entry it
// invalidated: cache/pending.go), the event under the producer's timeout.
// A failure is logged and counted, never answered: the write itself
// succeeded. A GET or HEAD (the proxied reads) returns before anything is
// allocated.
func (s *generation) invalidateAfterWrite(ctx *fasthttp.RequestCtx, rt *route, st *reqState, deadline time.Time) {
	code := ctx.Response.StatusCode()
	if s.cache == nil || ctx.IsGet() || ctx.IsHead() || code < 200 || code > 399 {
		return
	}
	var tags []string
	if code <= 299 {
		tags = renderTemplates(rt.invalidates, &st.params, nil)
	}
	if !httpcache.SafeMethod(ctx.Method()) {
		n := len(tags)
		if tags = s.appendWrittenPaths(tags, ctx, st); len(tags) > n {
			s.stats.unsafeInvalidations.Add(1)
		}
	}
	if len(tags) == 0 {
		return
	}
	// tags and ev are the request's own copies, never views of ctx's
	// buffers: both outlive the handler.
	ev := &invalidation.Event{Version: invalidation.Version, ID: invalidation.NewID(), Type: invalidation.TypeInvalidate, Tags: tags, TS: time.Now()}
	published := s.publishDetached(rt.name, ev)
	c, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	route := rt.name
	// Its error is Done's, or ErrL2Pending: the bump goes on.
	_, _ = s.cache.Invalidate(c, cache.Invalidation{ID: ev.ID, Tags: tags, Done: func(_ int, err error) {
		if err != nil {
			// Applied locally; L2 missed it. The event (or the entries'
			// TTL) bounds the damage on other replicas.
			s.stats.writeL2Errors.Add(1)
			s.log.Warn("invalidation after a write did not reach L2", "route", route, "tags", tags, "error", err.Error())
		}
	}})
	select {
	case <-published:
	case <-c.Done():
	}
}

// publishDetached publishes ev under the producer's own timeout, on a
// goroutine that Shutdown waits for, and returns a channel closed once it
// is done (at once without a producer).
func (s *Server) publishDetached(route string, ev *invalidation.Event) <-chan struct{} {
	done := make(chan struct{})
	if s.producer == nil {
		close(done)
		return done
	}
	fail := func(err error) {
		s.stats.publishErrors.Add(1)
		s.log.Warn("cannot publish the invalidation of a write", "route", route, "tags", ev.Tags, "error", err.Error())
	}
	started := s.detached.run(s.producer.Timeout(), func(ctx context.Context) {
		defer close(done)
		if err := s.producer.Publish(ctx, ev); err != nil {
			fail(err)
		}
	})
	if !started {
		fail(errShuttingDown)
		close(done)
	}
	return done
}

var errShuttingDown = errors.New("the gateway is shutting down")

// appendWrittenPaths appends the path tags an unsafe request's answer
// invalidates: its target's, and those of its Location and
// Content-Location when they are of the request's origin. A path that no
// cached route serves is left out: nothing is stored under its tag, and
// most writes (an ingestion endpoint's POSTs) then cost neither a Redis
// round trip nor a Kafka event.
func (s *generation) appendWrittenPaths(tags []string, ctx *fasthttp.RequestCtx, st *reqState) []string {
	tags = s.appendPathTag(tags, st.path)
	host := ctx.Request.Header.Host()
	for _, name := range [...]string{fasthttp.HeaderLocation, fasthttp.HeaderContentLocation} {
		// Every line: a second one names a URI the write may have changed
		// as much as the first.
		for _, v := range ctx.Response.Header.PeekAll(name) {
			if p, ok := httpcache.SameOriginPath(v, host, st.path, s.targets); ok {
				tags = s.appendPathTag(tags, p)
			}
		}
	}
	return tags
}

// appendPathTag appends path's tag when a cached route serves GET or HEAD
// on path, once.
func (s *generation) appendPathTag(tags []string, path []byte) []string {
	var params router.Params
	cached := func(method string) bool {
		i, _, err := s.router.Match([]byte(method), path, &params)
		return err == nil && s.routes[i].cache != nil
	}
	if !cached(fasthttp.MethodGet) && !cached(fasthttp.MethodHead) {
		return tags
	}
	tag := httpcache.PathTag(path)
	if slices.Contains(tags, tag) {
		return tags
	}
	return append(tags, tag)
}
