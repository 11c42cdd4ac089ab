package chaos

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tiercel/tiercel/internal/testwait"
)

// Tests of the harness itself: a fault suite whose faults do nothing, or
// whose clock lies, proves nothing.

// echo serves lines back on a loopback port.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := c.Write([]byte(line)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// roundTrip sends one line through addr and waits up to wait for it back.
func roundTrip(addr string, wait time.Duration) (time.Duration, error) {
	start := time.Now()
	c, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(start.Add(wait))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return 0, err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err == nil && line != "ping\n" {
		t := strings.TrimSpace(line)
		return 0, &net.AddrError{Err: "echoed " + t, Addr: addr}
	}
	return time.Since(start), err
}

func TestProxyFaults(t *testing.T) {
	p, err := NewProxy("echo", echo(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	ok := func(what string) time.Duration {
		t.Helper()
		d, err := roundTrip(p.Addr(), 2*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return d
	}
	fails := func(what string, wait time.Duration) error {
		t.Helper()
		_, err := roundTrip(p.Addr(), wait)
		if err == nil {
			t.Fatalf("%s: the round trip succeeded", what)
		}
		return err
	}
	ok("no fault")

	if err := p.Latency(150 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if d := ok("latency"); d < 150*time.Millisecond {
		t.Fatalf("latency 150ms: round trip took %s", d)
	}
	p.Clear()

	if err := p.Reset(); err != nil {
		t.Fatal(err)
	}
	if err := fails("reset", 2*time.Second); strings.Contains(err.Error(), "timeout") {
		t.Fatalf("reset: want a torn-down connection, got %v", err)
	}
	p.Clear()

	if err := p.Blackhole(); err != nil {
		t.Fatal(err)
	}
	if err := fails("blackhole", 200*time.Millisecond); !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("blackhole: want a timeout, got %v", err)
	}
	p.Clear()
	ok("cleared")

	p.Down()
	if _, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		t.Fatal("down: the port still accepts")
	}
	if err := p.Up(); err != nil {
		t.Fatal(err)
	}
	ok("up again")
}

// The load generator times from the intended send time, sends on schedule
// whatever the answers do, and reads the ladder step.
func TestLoadOpenLoop(t *testing.T) {
	release := make(chan struct{})
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		w.Header().Set("X-Cache", "HIT-L1")
	}))
	targets := []Target{
		{Name: "fast", Path: func(uint64) string { return "/fast" }, Budget: time.Second},
		{Name: "slow", Path: func(uint64) string { return "/slow" }, Budget: time.Second},
	}
	l, err := StartLoad(LoadConfig{Bases: []string{"http://" + srv}, Targets: targets, Rate: 200})
	if err != nil {
		t.Fatal(err)
	}
	// Every slow request hangs until released: an open loop keeps sending.
	if !testwait.Until(5*time.Second, func() bool { return len(l.Snapshot()) >= 40 }) {
		close(release)
		t.Fatalf("only %d answers while slow requests hang", len(l.Snapshot()))
	}
	pace(100 * time.Millisecond)
	released := time.Now()
	close(release)
	samples := l.Stop()
	var fast, slow int
	for _, s := range samples {
		if s.Status != 200 || len(s.Steps) != 1 || s.Steps[0] != "HIT-L1" {
			t.Fatalf("sample %+v", s)
		}
		switch s.Target {
		case "fast":
			fast++
		case "slow":
			slow++
			if s.Due.Before(released) && s.Latency < released.Sub(s.Due) {
				t.Fatalf("a request due %s before its release timed %s", released.Sub(s.Due), s.Latency)
			}
		}
	}
	if fast < 20 || slow < 20 {
		t.Fatalf("fast %d, slow %d", fast, slow)
	}
}

func TestSummarizeAndTables(t *testing.T) {
	targets := []Target{{Name: "a"}, {Name: "b", Expect: []int{401}}}
	now := time.Now()
	samples := []Sample{
		{Target: "a", Phase: Before, Due: now, Latency: time.Millisecond, Status: 200, Steps: []string{"HIT-L1"}},
		{Target: "a", Phase: During, Due: now, Latency: 90 * time.Millisecond, Status: 200, Steps: []string{"STALE"}},
		{Target: "a", Phase: During, Due: now, Latency: 2 * time.Millisecond, Status: 503},
		{Target: "b", Phase: After, Due: now, Latency: 3 * time.Millisecond, Status: 401},
		{Target: "b", Phase: After, Due: now, Latency: 2 * time.Second, Err: "timeout"},
	}
	s := Summarize("f", samples, targets)
	if s.Requests != 5 || s.Max < 2*time.Second-time.Millisecond || s.Max > 2*time.Second+time.Millisecond {
		t.Fatalf("summary %+v", s)
	}
	if s.During["STALE"] != 1 || s.Steps["HIT-L1"] != 1 || s.During["HIT-L1"] != 0 {
		t.Fatalf("steps %v during %v", s.Steps, s.During)
	}
	if len(s.Errors) != 2 || s.Errors["503"] != 1 || s.Errors["transport"] != 1 {
		t.Fatalf("errors %v (a 401 expected by b is none)", s.Errors)
	}
	s.Notes = []string{"a note"}
	var text, md strings.Builder
	if err := WriteTable(&text, []Summary{s}); err != nil {
		t.Fatal(err)
	}
	if err := WriteMarkdown(&md, []Summary{s}); err != nil {
		t.Fatal(err)
	}
	if n := fiveXX(s.Errors); n != 1 {
		t.Errorf("5xx %d of %v", n, s.Errors)
	}
	for _, want := range []string{"HIT-L1 1, STALE 1", "503 1, transport 1", "2000.", "a note"} {
		if !strings.Contains(text.String(), want) || !strings.Contains(md.String(), want) {
			t.Errorf("tables lack %q:\n%s\n%s", want, text.String(), md.String())
		}
	}
	if n := strings.Count(tableAlign, "|") - 1; n != len(tableHeader) || len(s.cells()) != n {
		t.Errorf("%d columns aligned, %d named, %d filled", n, len(tableHeader), len(s.cells()))
	}
	if lines := strings.Split(strings.TrimSpace(md.String()), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[1], "|---") {
		t.Errorf("markdown:\n%s", md.String())
	}
}

func TestWitnessDelay(t *testing.T) {
	w, err := StartWitness(200)
	if err != nil {
		t.Fatal(err)
	}
	pace(100 * time.Millisecond)
	w.Stop()
	if p50, _, worst, err := w.Quantiles(); err != nil || p50 <= 0 || worst < p50 {
		t.Fatalf("live witness: p50 %s max %s, %v", p50, worst, err)
	}
	t0 := time.Now()
	w.samples = []Sample{
		{Due: t0, Latency: time.Millisecond, Status: 204},
		{Due: t0.Add(20 * time.Millisecond), Latency: 300 * time.Millisecond, Status: 204},
		{Due: t0.Add(500 * time.Millisecond), Latency: 2 * time.Millisecond, Status: 204},
		{Due: t0.Add(time.Second), Latency: 50 * time.Millisecond, Err: "timeout"},
	}
	f := func(from, to time.Duration, want time.Duration) {
		t.Helper()
		if got := w.Delay(t0.Add(from), t0.Add(to)); got != want {
			t.Errorf("Delay(%s, %s) = %s, want %s", from, to, got, want)
		}
	}
	f(0, 10*time.Millisecond, time.Millisecond)
	f(25*time.Millisecond, 400*time.Millisecond, 300*time.Millisecond) // due 5ms before: inside the window
	f(100*time.Millisecond, 600*time.Millisecond, 2*time.Millisecond)
	f(700*time.Millisecond, 900*time.Millisecond, 0)
	f(990*time.Millisecond, 1500*time.Millisecond, 500*time.Millisecond) // no answer: late until the end
}
