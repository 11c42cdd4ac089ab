package httpcache

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
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
	sr, err := DecodeStored(EncodeResponse(nil, &resp, Freshness{}))
	if err != nil {
		t.Fatal(err)
	}
	var out fasthttp.Response
	sr.WriteTo(&out)
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

// FuzzStoredResponse: decoding arbitrary bytes as a stored response fails
// cleanly or succeeds, never panics; encoding then decoding round-trips.
func FuzzStoredResponse(f *testing.F) {
	var resp fasthttp.Response
	resp.SetStatusCode(200)
	resp.Header.Set("Content-Type", "application/json")
	resp.Header.Add("Link", "<a>")
	resp.Header.Add("Link", "<b>")
	resp.SetBodyString(`{"ok":true}`)
	f.Add(EncodeResponse(nil, &resp, Freshness{}))
	f.Add([]byte{respFormat, 0, 200, 0, 1, 0, 4, 'X', '-', 'A', 'b'})
	f.Fuzz(func(t *testing.T, b []byte) {
		sr, err := DecodeStored(b)
		if err != nil {
			return
		}
		var out fasthttp.Response
		sr.WriteTo(&out)
		again := EncodeResponse(nil, &out, Freshness{})
		sr2, err := DecodeStored(again)
		if err != nil {
			t.Fatalf("re-encoded response does not decode: %v", err)
		}
		var out2 fasthttp.Response
		sr2.WriteTo(&out2)
		if out2.StatusCode() != out.StatusCode() || !bytes.Equal(out2.Body(), out.Body()) {
			t.Fatalf("round trip changed the response")
		}
	})
}
