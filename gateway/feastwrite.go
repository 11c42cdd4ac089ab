package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tiercel/tiercel/features"
	"github.com/tiercel/tiercel/invalidation"
)

// Feast's writes and health as its Python feature server serves them
// (sdk/python/feast/feature_server.py): POST /push, POST
// /write-to-online-store, GET /health. Writes go the way of POST /v1/push:
// features.Store.PushViews, then every replica drops the rows from L1
// (pushRows).

// serveFeastPush answers Feast's POST /push: 200 null, as FastAPI renders
// a handler that returns None.
func serveFeastPush(s *generation, ctx *fasthttp.RequestCtx, st *reqState, deadline time.Time) {
	s.serveFeastWrite(ctx, st, deadline, s.featureStore().ParseFeastPush)
}

// serveFeastWrite answers Feast's POST /write-to-online-store: 200 null.
func serveFeastWrite(s *generation, ctx *fasthttp.RequestCtx, st *reqState, deadline time.Time) {
	s.serveFeastWrite(ctx, st, deadline, s.featureStore().ParseFeastWrite)
}

// serveFeastHealth answers Feast's GET /health: 200 with an empty body,
// as the Python server once its registry is loaded (the gateway's is
// loaded before it listens).
func serveFeastHealth(s *generation, ctx *fasthttp.RequestCtx, st *reqState, deadline time.Time) {
	ctx.Response.SetStatusCode(fasthttp.StatusOK)
	ctx.Response.ResetBody()
}

func (s *generation) serveFeastWrite(ctx *fasthttp.RequestCtx, st *reqState, deadline time.Time, parse func([]byte) ([]features.ViewRows, error)) {
	vrs, err := parse(ctx.PostBody())
	if err == nil && len(vrs) > 0 {
		err = s.pushRows(st, deadline, vrs)
	}
	st.stage("push")
	if err != nil {
		s.writeFeastError(ctx, rowsError(err), st)
		return
	}
	ctx.Response.Header.SetContentType("application/json")
	ctx.Response.SetBodyString("null")
}

// pushRows writes rows (features.Store.PushViews: this replica drops its
// L1 copies) and, with Kafka, publishes an entity invalidation so that
// every other replica drops its copies too. The answer waits for the
// publish as a write's invalidation does (invalidateAfterWrite), up to
// deadline; a failure is logged and counted, the write having succeeded.
func (s *generation) pushRows(st *reqState, deadline time.Time, vrs []features.ViewRows) error {
	c, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := s.featureStore().PushViews(c, vrs); err != nil {
		return err
	}
	if s.producer == nil {
		return nil
	}
	ev := &invalidation.Event{Version: invalidation.Version, ID: invalidation.NewID(), Type: invalidation.TypeInvalidate, TS: time.Now()}
	for _, vr := range vrs {
		for _, r := range vr.Rows {
			key := make(map[string]any, len(r.Entity))
			for k, v := range r.Entity {
				key[k] = v
			}
			ev.Entities = append(ev.Entities, invalidation.Entity{View: vr.View, Key: key})
		}
	}
	select {
	case <-s.publishDetached(string(st.path), ev):
	case <-c.Done():
	}
	return nil
}

// rowsError is the store's own refusal of pushed rows (a value of the
// wrong type, ...) as pydantic's value_error on df, which is where a Feast
// client looks for it; Feast itself fails later, in pandas or pyarrow,
// with a 500. Anything else is answered as it is.
func rowsError(err error) error {
	var ge *features.Error
	if errors.As(err, &ge) && ge.Feast == "" && ge.Kind == features.BadRequest {
		d := features.Detail{Type: "value_error", Loc: []any{"body", "df"}, Msg: "Value error, " + ge.Message, Input: json.RawMessage("null")}
		return &features.RequestError{Details: []features.Detail{d}}
	}
	return err
}
