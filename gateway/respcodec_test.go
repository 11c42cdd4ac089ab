package gateway

import (
	"bufio"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/tiercel/tiercel/gateway/httpcache"
)

// Repeated fields are stored as one joined value (RFC 9110 §5.3), except
// Date, a singleton: two equal Date lines ("d, d" would be no date at all)
// keep one. The stored answer is framed by its body, not by the
// connection's close.
func TestStoredResponseFields(t *testing.T) {
	raw := "HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n" +
		"Link: <a>\r\nLink: <b>\r\nContent-Length: 2\r\n\r\nok"
	var resp fasthttp.Response
	if err := resp.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		t.Fatal(err)
	}
	sr, err := decodeStored(encodeResponse(nil, &resp, httpcache.Freshness{}))
	if err != nil {
		t.Fatal(err)
	}
	var out fasthttp.Response
	sr.writeTo(&out)
	if got := string(out.Header.Peek("Date")); got != "Sun, 06 Nov 1994 08:49:37 GMT" {
		t.Fatalf("Date %q", got)
	}
	if got := string(out.Header.Peek("Link")); got != "<a>, <b>" {
		t.Fatalf("Link %q", got)
	}
	if out.ConnectionClose() || out.Header.ContentLength() != 2 {
		t.Fatalf("framing: close=%v length=%d", out.ConnectionClose(), out.Header.ContentLength())
	}
}
