package gateway

import (
	"errors"

	"github.com/valyala/fasthttp"

	"github.com/tiercel/tiercel/features"
)

// writeFeastError answers a Feast write endpoint's error in the shape
// Feast's Python feature server gives it (features/feasterr.go): FastAPI's
// 422 {"detail": [...]} for a request that does not validate, and for the
// store's own validation of the rows (Feast would fail in pandas or
// pyarrow, with a 500); a Feast exception's JSON string with its status; a
// store that cannot write (Redis down) as Feast's base FeastError, 503.
func (s *generation) writeFeastError(ctx *fasthttp.RequestCtx, st *reqState, err error) {
	status, body := feastErrorBody(err)
	if status == 0 {
		// Not a client's error: log it, and answer as the gateway does.
		gerr := s.featureError(err, st)
		status, body = gerr.Status, (&features.FeastError{Class: "FeastError", Message: gerr.Message}).Detail()
	}
	resp := &ctx.Response
	resp.Reset()
	resp.SetStatusCode(status)
	resp.Header.SetContentType("application/json")
	resp.Header.Set("Cache-Control", "no-store")
	if len(st.id) > 0 {
		resp.Header.SetBytesV(headerRequestID, st.id)
	}
	resp.SetBodyRaw(body)
}

// feastStatus is the status of a Feast exception by kind.
var feastStatus = [...]int{
	features.BadRequest:  fasthttp.StatusUnprocessableEntity,
	features.TooLarge:    fasthttp.StatusRequestEntityTooLarge,
	features.NotFound:    fasthttp.StatusNotFound,
	features.Unavailable: fasthttp.StatusServiceUnavailable,
}

// feastErrorBody is err's status and body, or 0 when err is none of the
// client's doing.
func feastErrorBody(err error) (int, []byte) {
	var re *features.RequestError
	var fe *features.FeastError
	var ge *features.Error
	switch {
	case errors.As(err, &re):
		return fasthttp.StatusUnprocessableEntity, re.Body()
	case errors.As(err, &fe) && int(fe.Kind) < len(feastStatus) && feastStatus[fe.Kind] != 0:
		return feastStatus[fe.Kind], fe.Detail()
	case errors.As(err, &ge) && (ge.Kind == features.BadRequest || ge.Kind == features.TooLarge):
		d := features.Detail{Type: "value_error", Loc: []any{"body", "df"}, Msg: "Value error, " + ge.Message, Input: []byte("null")}
		return feastStatus[ge.Kind], (&features.RequestError{Details: []features.Detail{d}}).Body()
	}
	return 0, nil
}
