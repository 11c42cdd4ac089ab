package gateway

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

func TestValidHost(t *testing.T) {
	for _, tc := range []struct {
		host string
		ok   bool
	}{
		{"", true},
		{"example.test", true},
		{"example.test:8080", true},
		{"my_service:80", true},
		{"127.0.0.1", true},
		{"[::1]", true},
		{"[::1]:8443", true},
		{"[fe80::1%25eth0]", true},
		{"xn--bcher-kva.example", true},
		{"bücher.example", true}, // UTF-8 rather than punycode: let through
		{"example.test:", true},  // port = *DIGIT: empty is allowed

		{"[::1", false},      // fasthttp cannot parse it: the path would become "/"
		{"a b", false},       // likewise
		{"a@b", false},       // userinfo has no place in Host
		{"a/b", false},       // a path in the host
		{"a?b", false},       // a query
		{"a#b", false},       // a fragment
		{"x:8a", false},      // not a port
		{"x:1:2", false},     // two ports
		{":80", false},       // no host
		{"[]", false},        // empty literal
		{"[::1]x", false},    // junk after the literal
		{"[::1]:x", false},   // not a port
		{"[::1]:80]", false}, // not a port either
		{"[é]", false},       // IP literals are ASCII
		{"a\x01b", false},    // control byte
		{"a\x7fb", false},
		{"a\"b", false},
		{"a<b>", false},
		{"a\\b", false},
	} {
		if got := validHost([]byte(tc.host)); got != tc.ok {
			t.Errorf("validHost(%q) = %v, want %v", tc.host, got, tc.ok)
		}
	}
}

// A request with an invalid Host gets a 400 JSON error, never a route: the
// ones fasthttp cannot parse from its server (bad_request), the ones it
// reads but RFC 9110 does not allow from admit (bad_host). Over a real
// connection, since only a server read shows which layer answers.
func TestInvalidHostRejected(t *testing.T) {
	h := newHarness(t, nil)
	for _, tc := range []struct{ host, code string }{
		// fasthttp's server refuses what its URI parse cannot read
		{"a b", "bad_request"}, {"[::1", "bad_request"}, {"a/b", "bad_request"}, {"x:1:2", "bad_request"},
		{"a?b", "bad_request"}, {"a#b", "bad_request"}, {"x:8a", "bad_request"}, {"[::1]x", "bad_request"},
		// admit refuses what it reads but RFC 9110 does not allow
		{"a@b", "bad_host"}, // fasthttp takes "a" for userinfo
		{":80", "bad_host"}, {"a\"b", "bad_host"}, {"a<b>", "bad_host"},
	} {
		host := tc.host
		c, err := net.Dial("tcp", h.srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(c, "GET /open/x HTTP/1.1\r\nHost: "+host+"\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		c.Close()
		var env struct {
			Error struct{ Code string } `json:"error"`
		}
		if resp.StatusCode != 400 || json.Unmarshal(b, &env) != nil || env.Error.Code != tc.code {
			t.Errorf("Host %q: %d %q, want 400 %s", host, resp.StatusCode, b, tc.code)
		}
		if resp.Header.Get("X-Origin") != "" || strings.Contains(string(b), "origin") {
			t.Errorf("Host %q: the request reached the origin", host)
		}
	}
	if n := h.origin.hits.Load(); n != 0 {
		t.Fatalf("the origin was called %d times for invalid Hosts", n)
	}
	if r := h.do("GET", "/open/x", "", nil, map[string]string{"Host": "example.test:8080"}); r.status != 200 {
		t.Fatalf("a valid Host with a port: %d %s", r.status, r.body)
	}
}
