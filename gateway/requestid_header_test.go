package gateway

import (
	"bufio"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestOneRequestIDField reads response header lines as sent: every answer
// carries one X-Request-Id field, errors and an origin that echoes the id
// included (seen: X-Request-Id and X-Request-ID on 401, 403 and 404).
func TestOneRequestIDField(t *testing.T) {
	h := newHarness(t, nil)
	h.origin.serve(func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.SetBytesV("X-Request-Id", ctx.Request.Header.Peek("X-Request-Id"))
		ctx.SetBodyString("ok")
	})
	f := func(wantStatus string, target string, lines ...string) {
		t.Helper()
		status, fields := rawHeaderLines(t, h.srv.Addr(), target, lines...)
		if !strings.Contains(status, wantStatus) {
			t.Fatalf("%s: status line %q, want %s", target, status, wantStatus)
		}
		var ids []string
		for _, l := range fields {
			if name, _, _ := strings.Cut(l, ":"); strings.EqualFold(name, "X-Request-Id") {
				ids = append(ids, l)
			}
		}
		if len(ids) != 1 {
			t.Fatalf("%s: %d request id fields %q, want 1", target, len(ids), ids)
		}
	}
	tok := token(t, nil)
	f(" 401 ", "/api/products/1")
	f(" 401 ", "/api/products/1", "X-Request-ID: caller-1")
	f(" 403 ", "/api/products/1", "Authorization: Bearer "+token(t, map[string]any{"scope": "other"}))
	f(" 404 ", "/nope")
	f(" 404 ", "/nope", "X-Request-Id: caller-2")
	f(" 200 ", "/maybe", "X-Request-Id: caller-3")
	f(" 200 ", "/api/products/1", "Authorization: Bearer "+tok)
	f(" 200 ", "/open/x", "X-Request-Id: caller-4")
}

// rawHeaderLines sends a GET and returns the status line and the header
// field lines exactly as the gateway wrote them.
func rawHeaderLines(t *testing.T, addr, target string, lines ...string) (string, []string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	req := "GET " + target + " HTTP/1.1\r\nHost: gateway.test\r\nConnection: close\r\n"
	for _, l := range lines {
		req += l + "\r\n"
	}
	if _, err := conn.Write([]byte(req + "\r\n")); err != nil {
		t.Fatal(err)
	}
	r := textproto.NewReader(bufio.NewReader(conn))
	status, err := r.ReadLine()
	if err != nil {
		t.Fatal(err)
	}
	var fields []string
	for {
		l, err := r.ReadLine()
		if err != nil {
			t.Fatal(err)
		}
		if l == "" {
			return status, fields
		}
		fields = append(fields, l)
	}
}
