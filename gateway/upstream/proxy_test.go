package upstream

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// seenRequest is what the upstream received, copied out of its RequestCtx.
type seenRequest struct {
	method, uri, host, body string
	header                  http.Header
}

// startRecorder starts an upstream that reports each request on the returned
// channel and answers with hop-by-hop headers of its own.
func startRecorder(t *testing.T) (string, <-chan seenRequest) {
	seen := make(chan seenRequest, 1)
	addr := startServer(t, func(ctx *fasthttp.RequestCtx) {
		r := seenRequest{
			method: string(ctx.Method()),
			uri:    string(ctx.RequestURI()),
			host:   string(ctx.Host()),
			body:   string(ctx.PostBody()),
			header: http.Header{},
		}
		for k, v := range ctx.Request.Header.All() {
			r.header.Add(string(k), string(v))
		}
		seen <- r

		h := &ctx.Response.Header
		h.Set("X-Upstream", "yes")
		h.Set("X-Up-Secret", "1")
		h.Set(fasthttp.HeaderConnection, "X-Up-Secret")
		h.Set(fasthttp.HeaderKeepAlive, "timeout=9")
		h.Set(fasthttp.HeaderProxyAuthenticate, `Basic realm="x"`)
		h.Set(fasthttp.HeaderUpgrade, "websocket")
		if string(ctx.Path()) == "/chunked" {
			ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
				_, _ = w.WriteString("part1")
				_ = w.Flush()
				_, _ = w.WriteString("part2")
			})
			return
		}
		ctx.SetStatusCode(fasthttp.StatusCreated)
		ctx.SetBodyString("created:" + r.body)
	})
	return addr, seen
}

// startGateway starts a front server that proxies everything to p.
func startGateway(t *testing.T, p *Pool) string {
	return startServer(t, func(ctx *fasthttp.RequestCtx) {
		if _, err := p.Proxy(ctx, ctx.RequestURI(), time.Now().Add(5*time.Second), []byte("req-1")); err != nil {
			ctx.Error(err.Error(), fasthttp.StatusBadGateway)
		}
	})
}

// roundTrip writes raw to addr, so that the test controls every header
// byte, and parses the response.
func roundTrip(t *testing.T, addr, raw string) (*http.Response, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("cannot dial gateway: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, strings.ReplaceAll(raw, "\n", "\r\n")); err != nil {
		t.Fatalf("cannot write request: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("cannot read response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("cannot read body: %v", err)
	}
	return resp, string(body)
}

var (
	requestHopByHop  = []string{"Connection", "X-Secret", "Keep-Alive", "Proxy-Authorization", "Te", "Upgrade", "Proxy-Connection", "Transfer-Encoding", "Trailer"}
	responseHopByHop = []string{"X-Up-Secret", "Keep-Alive", "Proxy-Authenticate", "Upgrade", "Transfer-Encoding"}
)

func TestProxy(t *testing.T) {
	upstream, seen := startRecorder(t)
	p := newTestPool(t, Config{Targets: []string{upstream}})
	gateway := startGateway(t, p)

	f := func(name, raw string, want seenRequest, wantStatus int, wantBody string) {
		t.Helper()
		resp, body := roundTrip(t, gateway, raw)
		got := <-seen

		if got.method != want.method || got.uri != want.uri || got.body != want.body {
			t.Errorf("%s: upstream got %s %s body %q, want %s %s body %q",
				name, got.method, got.uri, got.body, want.method, want.uri, want.body)
		}
		if got.host != upstream {
			t.Errorf("%s: upstream got Host %q, want the target %q", name, got.host, upstream)
		}
		for k, v := range want.header {
			if g := got.header.Values(k); strings.Join(g, "|") != strings.Join(v, "|") {
				t.Errorf("%s: upstream got %s %q, want %q", name, k, g, v)
			}
		}
		for _, k := range requestHopByHop {
			if v := got.header.Values(k); len(v) > 0 {
				t.Errorf("%s: hop-by-hop request header %s: %q reached the upstream", name, k, v)
			}
		}

		if resp.StatusCode != wantStatus || body != wantBody || resp.Header.Get("X-Upstream") != "yes" {
			t.Errorf("%s: client got %d %q X-Upstream=%q, want %d %q yes",
				name, resp.StatusCode, body, resp.Header.Get("X-Upstream"), wantStatus, wantBody)
		}
		if resp.ContentLength != int64(len(wantBody)) {
			t.Errorf("%s: client got Content-Length %d, want %d", name, resp.ContentLength, len(wantBody))
		}
		for _, k := range responseHopByHop {
			if v := resp.Header.Values(k); len(v) > 0 {
				t.Errorf("%s: hop-by-hop response header %s: %q reached the client", name, k, v)
			}
		}
		if c := resp.Header.Get("Connection"); strings.Contains(c, "X-Up-Secret") {
			t.Errorf("%s: client got upstream's Connection %q", name, c)
		}
	}

	f("post with hop-by-hop headers", `POST /echo/a%2Fb?x=1&y=%20z HTTP/1.1
Host: shop.example
Connection: keep-alive, X-Secret
X-Secret: s
Keep-Alive: timeout=5
Proxy-Authorization: Basic Zm9vOmJhcg==
Proxy-Connection: keep-alive
TE: trailers
Upgrade: h2c
X-Forwarded-For: 10.0.0.1, 10.0.0.2
X-Forwarded-Proto: spoofed
X-Kept: yes
Content-Type: text/plain
Content-Length: 5

hello`, seenRequest{
		method: "POST", uri: "/echo/a%2Fb?x=1&y=%20z", body: "hello",
		header: http.Header{
			"X-Forwarded-For":   {"10.0.0.1, 10.0.0.2, 127.0.0.1"},
			"X-Forwarded-Proto": {"http"},
			"X-Forwarded-Host":  {"shop.example"},
			"X-Request-Id":      {"req-1"},
			"X-Kept":            {"yes"},
			"Content-Type":      {"text/plain"},
		},
	}, 201, "created:hello")

	f("chunked request body", `PUT /put HTTP/1.1
Host: shop.example
Transfer-Encoding: chunked
Trailer: X-Checksum

3
abc
2
de
0
X-Checksum: 1

`, seenRequest{
		method: "PUT", uri: "/put", body: "abcde",
		header: http.Header{"X-Forwarded-For": {"127.0.0.1"}, "Content-Length": {"5"}},
	}, 201, "created:abcde")

	f("chunked response", `GET /chunked HTTP/1.1
Host: shop.example
Connection: close

`, seenRequest{method: "GET", uri: "/chunked", header: http.Header{"User-Agent": nil}}, 200, "part1part2")
}

func TestProxyUpstreamSendsHopByHop(t *testing.T) {
	// Guards TestProxy against passing vacuously: the recorder really does
	// send the headers that the proxy must strip.
	// A plain client, not the pool: Do strips them too.
	upstream, seen := startRecorder(t)
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + upstream + "/")
	if err := fasthttp.DoTimeout(req, resp, 5*time.Second); err != nil {
		t.Fatalf("Do: %v", err)
	}
	<-seen
	for _, k := range []string{"X-Up-Secret", "Keep-Alive", "Proxy-Authenticate", "Upgrade", "Connection"} {
		if len(resp.Header.Peek(k)) == 0 {
			t.Errorf("upstream did not send %s", k)
		}
	}
}

func TestProxyErrorLeavesResponse(t *testing.T) {
	p := newTestPool(t, Config{Targets: []string{refusedAddr(t)}})
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	req.SetRequestURI("http://shop.example/x")
	req.Header.SetMethod(fasthttp.MethodPost)
	ctx.Init(&req, nil, nil)
	ctx.Response.SetBodyString("untouched")

	res, err := p.Proxy(&ctx, []byte("/x"), time.Now().Add(5*time.Second), nil)
	if !errors.Is(err, ErrUnavailable) || res.Attempts != 1 {
		t.Fatalf("Proxy = %+v, %v: want one attempt and ErrUnavailable", res, err)
	}
	if !bytes.Equal(ctx.Response.Body(), []byte("untouched")) {
		t.Errorf("response body = %q, want it untouched", ctx.Response.Body())
	}
}

func TestIsIdempotent(t *testing.T) {
	for m, want := range map[string]bool{
		"GET": true, "HEAD": true, "OPTIONS": true, "PUT": true, "DELETE": true, "TRACE": true,
		"POST": false, "PATCH": false, "CONNECT": false, "get": false, "": false,
	} {
		if got := isIdempotent([]byte(m)); got != want {
			t.Errorf("isIdempotent(%q) = %v, want %v", m, got, want)
		}
	}
}

// The upstream receives the target Proxy is given, never the client's
// request line: fasthttp's client reads a target such as "//pub/x" as an
// authority ("pub") and a path ("/x"), which is how a request routed as one
// path reached the origin as another (issue 13, item 1).
func TestProxySendsTheGivenTarget(t *testing.T) {
	upstream, seen := startRecorder(t)
	p := newTestPool(t, Config{Targets: []string{upstream}})
	gateway := startServer(t, func(ctx *fasthttp.RequestCtx) {
		if _, err := p.Proxy(ctx, []byte("/pub/api/secret/1?q=1"), time.Now().Add(5*time.Second), nil); err != nil {
			ctx.Error(err.Error(), fasthttp.StatusBadGateway)
		}
	})
	for _, target := range []string{"//pub/api/secret/1?q=1", "http://evil.example//pub/x", "/x/../y"} {
		roundTrip(t, gateway, "GET "+target+" HTTP/1.1\nHost: shop.example\n\n")
		if got := <-seen; got.uri != "/pub/api/secret/1?q=1" || got.host != upstream {
			t.Errorf("client target %q: upstream got %q Host %q", target, got.uri, got.host)
		}
	}
}

// Do's response never carries hop-by-hop headers, on a plain or a hedged
// call: a cache fill reads it without Proxy, and what it stores is
// replayed to everyone (issue 13, item 4; RFC 9110 §7.6.1). Connection is
// sent as two field lines, and both name a header.
func TestDoStripsHopByHop(t *testing.T) {
	// Written byte for byte: fasthttp's server keeps one Connection line.
	const answer = "HTTP/1.1 200 OK\r\nConnection: X-Hop-A\r\nConnection: x-hop-b, keep-alive\r\n" +
		"X-Hop-A: 1\r\nX-Hop-B: 1\r\nKeep-Alive: timeout=9\r\nProxy-Connection: keep-alive\r\n" +
		"Upgrade: h2c\r\nX-End-To-End: kept\r\nContent-Length: 2\r\n\r\nok"
	for _, cfg := range []Config{
		{Targets: []string{startRawServer(t, answer)}},
		{Targets: []string{startRawServer(t, answer), startRawServer(t, answer)}, HedgeAfter: time.Microsecond},
	} {
		p := newTestPool(t, cfg)
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI("/")
		if _, err := p.Do(req, resp, time.Now().Add(5*time.Second), true); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"X-Hop-A", "X-Hop-B", "Keep-Alive", "Proxy-Connection", "Upgrade"} {
			if v := resp.Header.Peek(k); v != nil {
				t.Errorf("hedge=%v: %s: %q survived Do", cfg.HedgeAfter > 0, k, v)
			}
		}
		if string(resp.Header.Peek("X-End-To-End")) != "kept" {
			t.Errorf("an end-to-end header was dropped")
		}
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
	}
}
