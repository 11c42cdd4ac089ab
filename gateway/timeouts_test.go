package gateway

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// connClosed reads until the server closes c and returns what it sent and
// how long after start the close came.
func connClosed(t *testing.T, c net.Conn, start time.Time) (string, time.Duration) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("the server never closed the connection: %v (got %q)", err, b)
	}
	return string(b), time.Since(start)
}

func TestSlowlorisHeadersCut(t *testing.T) {
	const read = 300 * time.Millisecond
	h := newHarness(t, func(c *Config) { c.Server.ReadTimeout, c.Server.IdleTimeout = read, time.Minute })
	c, err := net.Dial("tcp", h.srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	go func() { // a header line every 50ms, never the blank line that ends them
		if _, err := io.WriteString(c, "GET /open/x HTTP/1.1\r\nHost: t\r\n"); err != nil {
			return
		}
		for range 200 {
			if _, err := io.WriteString(c, "X-Drip: 1\r\n"); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond) // the attacker's pace
		}
	}()
	got, took := connClosed(t, c, start)
	if took < read-50*time.Millisecond {
		t.Fatalf("cut after %v, before the %v read timeout", took, read)
	}
	if strings.Contains(got, "X-Origin") {
		t.Fatalf("the dripped request reached the origin: %q", got)
	}
	if m := h.metrics(t); !strings.Contains(m, `tiercel_connection_timeouts_total{phase="read"} 1`) {
		t.Fatalf("the read timeout is not counted in /metrics")
	}
}

func TestIdleKeepAliveClosedBusyKept(t *testing.T) {
	const idle = 300 * time.Millisecond
	h := newHarness(t, func(c *Config) { c.Server.ReadTimeout, c.Server.IdleTimeout = idle, idle })
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", h.srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c, bufio.NewReader(c)
	}
	get := func(c net.Conn, r *bufio.Reader) {
		t.Helper()
		if _, err := io.WriteString(c, "GET /open/x HTTP/1.1\r\nHost: t\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	quiet, qr := dial()
	busy, br := dial()
	get(quiet, qr)
	start := time.Now()
	// The busy connection asks every idle/4 for four idle periods: it is
	// never idle for long, so it must never be closed.
	for time.Since(start) < 4*idle {
		get(busy, br)
		time.Sleep(idle / 4) // the client's pace
	}
	if _, took := connClosed(t, quiet, start); took < idle-50*time.Millisecond {
		t.Fatalf("idle connection closed after %v, before the %v idle timeout", took, idle)
	}
	get(busy, br)
}
