package conntimeout

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/tiercel/tiercel/internal/testwait"
)

// lineServer answers every "\n"-terminated line with "ok\n" on guarded
// connections, like an HTTP/1 server alternating requests and responses,
// and reports how each connection ended.
type lineServer struct {
	g     *Guard
	ln    net.Listener
	ended chan error
	// body is written after each "ok\n" (a response too big for the
	// socket buffers, for write timeouts).
	body []byte
}

func startLineServer(t *testing.T, cfg Config) *lineServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &lineServer{g: New(cfg), ended: make(chan error, 16)}
	s.ln = s.g.Listener(ln)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := s.ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	t.Cleanup(func() {
		_ = s.ln.Close()
		<-done
		s.g.Close()
	})
	return s
}

func (s *lineServer) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	for {
		if _, err := r.ReadString('\n'); err != nil {
			s.ended <- err
			return
		}
		if _, err := c.Write(append([]byte("ok\n"), s.body...)); err != nil {
			s.ended <- err
			return
		}
	}
}

func (s *lineServer) dial(t *testing.T) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", s.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitEnd waits for the server side of a connection to end and returns
// its error and how long after start that was.
func (s *lineServer) waitEnd(t *testing.T, start time.Time) (time.Duration, error) {
	t.Helper()
	select {
	case err := <-s.ended:
		return time.Since(start), err
	case <-time.After(10 * time.Second):
		t.Fatal("the connection was never cut")
		return 0, nil
	}
}

func request(t *testing.T, c net.Conn, r *bufio.Reader) {
	t.Helper()
	if _, err := io.WriteString(c, "ping\n"); err != nil {
		t.Fatal(err)
	}
	if line, err := r.ReadString('\n'); err != nil || line != "ok\n" {
		t.Fatalf("answer %q, %v", line, err)
	}
}

func TestSlowlorisCutAfterReadTimeout(t *testing.T) {
	const read = 300 * time.Millisecond
	s := startLineServer(t, Config{Read: read, Idle: time.Minute, Resolution: 10 * time.Millisecond})
	c := s.dial(t)
	r := bufio.NewReader(c)
	request(t, c, r) // a keep-alive connection: the next request's first byte starts the read phase
	start := time.Now()
	go func() { // one byte every 50ms, never a whole line
		for range 100 {
			if _, err := io.WriteString(c, "x"); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond) // the attacker's pace, not synchronisation
		}
	}()
	took, err := s.waitEnd(t, start)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("ended with %v, want a deadline error", err)
	}
	if took < read-10*time.Millisecond {
		t.Fatalf("cut after %v, before the %v read timeout", took, read)
	}
	if st := s.g.Stats(); st.ReadTimeouts != 1 || st.WriteTimeouts != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestFirstRequestBoundedByReadTimeout(t *testing.T) {
	const read = 200 * time.Millisecond
	s := startLineServer(t, Config{Read: read, Idle: time.Minute, Resolution: 10 * time.Millisecond})
	start := time.Now()
	s.dial(t) // connects, sends nothing
	took, err := s.waitEnd(t, start)
	if !errors.Is(err, os.ErrDeadlineExceeded) || took < read-10*time.Millisecond {
		t.Fatalf("ended with %v after %v, want a deadline error after %v", err, took, read)
	}
}

func TestIdleTimeoutAndBusyConnectionsKept(t *testing.T) {
	const idle = 200 * time.Millisecond
	s := startLineServer(t, Config{Read: time.Minute, Idle: idle, Resolution: 10 * time.Millisecond})
	busy, quiet := s.dial(t), s.dial(t)
	br, qr := bufio.NewReader(busy), bufio.NewReader(quiet)
	request(t, quiet, qr)
	start := time.Now()
	// The busy connection sends a request every idle/4 for 5 idle periods:
	// no phase of it ever runs over, so it must never be cut.
	for time.Since(start) < 5*idle {
		request(t, busy, br)
		time.Sleep(idle / 4) // the client's pace
	}
	_, err := s.waitEnd(t, start)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("quiet connection ended with %v", err)
	}
	request(t, busy, br)
	select {
	case err := <-s.ended:
		t.Fatalf("a second connection was cut: %v", err)
	default:
	}
}

func TestWriteTimeout(t *testing.T) {
	const write = 200 * time.Millisecond
	s := startLineServer(t, Config{Read: time.Minute, Write: write, Resolution: 10 * time.Millisecond})
	s.body = make([]byte, 64<<20) // far more than the socket buffers hold
	c := s.dial(t)
	start := time.Now()
	if _, err := io.WriteString(c, "ping\n"); err != nil { // then never read
		t.Fatal(err)
	}
	took, err := s.waitEnd(t, start)
	if !errors.Is(err, os.ErrDeadlineExceeded) || took < write-10*time.Millisecond {
		t.Fatalf("ended with %v after %v, want a deadline error after %v", err, took, write)
	}
	if st := s.g.Stats(); st.WriteTimeouts != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestExplicitDeadlinesHandOver(t *testing.T) {
	g := New(Config{Read: 50 * time.Millisecond, Resolution: 5 * time.Millisecond})
	defer g.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gl := g.Listener(ln)
	defer gl.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	sc, err := gl.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if err := sc.SetDeadline(time.Time{}); err != nil { // a hijacking owner clears deadlines
		t.Fatal(err)
	}
	// A response then a wait for the next request: unguarded, this would
	// be an idle phase bounded by Read.
	if _, err := sc.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		_, err := sc.Read(make([]byte, 1))
		got <- err
	}()
	time.Sleep(300 * time.Millisecond) // six read timeouts: none may fire
	if _, err := client.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("read after hand-over: %v", err)
	}
}

func TestCloseUntracksAndStopsSweeper(t *testing.T) {
	before := runtime.NumGoroutine()
	s := startLineServer(t, Config{Read: time.Minute})
	for range 3 {
		c := s.dial(t)
		request(t, c, bufio.NewReader(c))
		c.Close()
	}
	testwait.For(t, 5*time.Second, "no tracked connections", func() bool { return s.g.Stats().Open == 0 })
	s.g.Close()
	_ = s.ln.Close()
	testwait.For(t, 5*time.Second, "goroutines back", func() bool { return runtime.NumGoroutine() <= before })
}

func TestDisabledReturnsListener(t *testing.T) {
	g := New(Config{})
	defer g.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if g.Listener(ln) != ln {
		t.Fatal("no timeouts, but the listener was wrapped")
	}
}

func TestResolutionDefaults(t *testing.T) {
	f := func(cfg Config, want time.Duration) {
		t.Helper()
		cfg.setDefaults()
		if cfg.Resolution != want {
			t.Fatalf("%+v: resolution %v, want %v", cfg, cfg.Resolution, want)
		}
	}
	f(Config{Read: 5 * time.Second, Write: 5 * time.Second, Idle: time.Minute}, 250*time.Millisecond)
	f(Config{Read: time.Second}, 50*time.Millisecond)
	f(Config{Write: 10 * time.Millisecond}, time.Millisecond)
	f(Config{Read: time.Second, Resolution: 3 * time.Millisecond}, 3*time.Millisecond)
}
