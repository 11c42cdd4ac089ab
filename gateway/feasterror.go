package gateway

import (
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/tiercel/tiercel/features"
)

// Feast's endpoints answer errors the way Feast's Python feature server
// (sdk/python/feast/feature_server.py) does, so that its clients keep
// working: rest_exception_handler answers a FeastError with
// JSONResponse(status_code=exc.http_status_code(), content=exc.to_error_detail()),
// where to_error_detail (feast/errors.py) is
// json.dumps({"module", "class", "message"}): the body is that JSON document
// as a JSON string, which rest_error_handler.py turns back into the
// exception with FeastError.from_error_detail(response.json()). Any other
// exception is 500 with str(exc) as a JSON string. FastAPI answers a body
// that fails its pydantic model with 422 {"detail": [{type, loc, msg,
// input}]}, and an HTTPException with {"detail": message}.
//
// Authentication, scope and rate-limit errors come before the handler and
// keep the gateway's own shape (docs/features.md says so).

// writeFeastError answers err, returned by a features call on a Feast
// endpoint (reads, pushes and writes alike), in Feast's shape.
func (s *generation) writeFeastError(ctx *fasthttp.RequestCtx, err error, st *reqState) {
	var re *features.RequestError
	if errors.As(err, &re) {
		writeFeastBody(ctx, fasthttp.StatusUnprocessableEntity, re.Body(), st.id)
		return
	}
	var fe *features.Error
	if !errors.As(err, &fe) || int(fe.Kind) >= len(featureStatus) || featureStatus[fe.Kind] == 0 {
		e := s.featureError(err, st) // logs it
		writeFeastBody(ctx, e.Status, appendPyJSONString(nil, e.Message, false), st.id)
		return
	}
	switch {
	case fe.Feast == "KeyError":
		// str(KeyError(msg)) is the message's repr: quoted.
		writeFeastBody(ctx, fasthttp.StatusInternalServerError, appendPyJSONString(nil, "'"+fe.Message+"'", false), st.id)
	case fe.Feast == "ValueError" || fe.Feast == "TypeError":
		// Python's own exceptions: str(exc) is the message itself.
		writeFeastBody(ctx, fasthttp.StatusInternalServerError, appendPyJSONString(nil, fe.Message, false), st.id)
	case fe.Feast != "":
		writeFeastBody(ctx, feastStatus(fe.Feast), appendPyJSONString(nil, string(feastErrorDetail(nil, fe.Feast, fe.Message)), false), st.id)
	case fe.Kind == features.BadRequest:
		writeFeastBody(ctx, fasthttp.StatusUnprocessableEntity, validationError(fe).Body(), st.id)
	default:
		e := s.featureError(err, st) // logs an unavailable dependency
		b := append([]byte(`{"detail":`), appendPyJSONString(nil, e.Message, false)...)
		writeFeastBody(ctx, e.Status, append(b, '}'), st.id)
	}
}

// feastStatus is FeastError.http_status_code() of a feast.errors class:
// 404 for FeastObjectNotFoundException's subclasses, 422 for
// PushSourceNotFoundException (which overrides it), 500 otherwise
// (FeatureNameCollisionError does not override it).
func feastStatus(class string) int {
	if class == "PushSourceNotFoundException" {
		return fasthttp.StatusUnprocessableEntity
	}
	if strings.HasSuffix(class, "NotFoundException") {
		return fasthttp.StatusNotFound
	}
	return fasthttp.StatusInternalServerError
}

// feastErrorDetail appends FeastError.to_error_detail(): json.dumps of
// {"module", "class", "message"} with Python's default separators and
// ensure_ascii.
func feastErrorDetail(dst []byte, class, msg string) []byte {
	dst = append(dst, `{"module": "feast.errors", "class": `...)
	dst = appendPyJSONString(dst, class, true)
	dst = append(dst, `, "message": `...)
	dst = appendPyJSONString(dst, msg, true)
	return append(dst, '}')
}

// validationError is FastAPI's 422 for a request its pydantic model (or
// Feast's conversion of it) refused.
func validationError(fe *features.Error) *features.RequestError {
	d := features.Detail{Type: "value_error", Loc: []any{"body"}, Msg: fe.Message, Input: json.RawMessage("null")}
	switch fe.Code {
	case "bad_json":
		d = features.Detail{Type: "json_invalid", Loc: []any{"body", 0}, Msg: "JSON decode error", Input: json.RawMessage("{}"),
			Ctx: map[string]string{"error": fe.Message}}
	case "no_entities":
		d = features.Detail{Type: "missing", Loc: []any{"body", "entities"}, Msg: "Field required", Input: json.RawMessage("null")}
	}
	return &features.RequestError{Details: []features.Detail{d}}
}

// appendPyJSONString appends s as Python's json.dumps writes a string:
// with ensureASCII every character outside ' '…'~' is escaped (\n and
// the like by name, the rest as \uXXXX, surrogate pairs past U+FFFF);
// without it (Starlette's JSONResponse), only '"', '\\' and control
// characters are.
func appendPyJSONString(dst []byte, s string, ensureASCII bool) []byte {
	const hex = "0123456789abcdef"
	u := func(dst []byte, r rune) []byte {
		return append(dst, '\\', 'u', hex[r>>12&15], hex[r>>8&15], hex[r>>4&15], hex[r&15])
	}
	dst = append(dst, '"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			dst = append(dst, '\\', byte(r))
		case r == '\n':
			dst = append(dst, `\n`...)
		case r == '\r':
			dst = append(dst, `\r`...)
		case r == '\t':
			dst = append(dst, `\t`...)
		case r == '\b':
			dst = append(dst, `\b`...)
		case r == '\f':
			dst = append(dst, `\f`...)
		case r < 0x20:
			dst = u(dst, r)
		case !ensureASCII || r <= '~':
			dst = utf8.AppendRune(dst, r)
		case r > 0xFFFF:
			r -= 0x10000
			dst = u(dst, 0xD800+(r>>10))
			dst = u(dst, 0xDC00+(r&0x3FF))
		default:
			dst = u(dst, r)
		}
	}
	return append(dst, '"')
}

// writeFeastBody replaces the response with a Feast error body, keeping the
// request ID header as writeError does.
func writeFeastBody(ctx *fasthttp.RequestCtx, status int, body []byte, requestID []byte) {
	resp := &ctx.Response
	resp.Reset()
	resp.SetStatusCode(status)
	resp.Header.SetContentType("application/json")
	resp.Header.Set("Cache-Control", "no-store")
	if len(requestID) > 0 {
		resp.Header.SetBytesV(headerRequestID, requestID)
	}
	resp.SetBodyRaw(body)
}
