package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tiercel/tiercel/gateway"
)

// TestHelpExitsZero: asking for help is not an error.
func TestHelpExitsZero(t *testing.T) {
	for _, cmd := range []string{"serve", "token", "validate", "invalidate"} {
		for _, h := range []string{"-h", "-help", "--help"} {
			code, _, errOut := runCLI(cmd, h)
			if code != 0 || !strings.Contains(errOut, "Usage of "+cmd) {
				t.Fatalf("%s %s: code %d %q", cmd, h, code, errOut)
			}
		}
		if code, _, _ := runCLI(cmd, "-no-such-flag"); code != 2 {
			t.Fatalf("%s with a bad flag: code %d, want 2", cmd, code)
		}
	}
	if code, out, _ := runCLI("-h"); code != 0 || !strings.Contains(out, "usage: tiercel") {
		t.Fatalf("tiercel -h: code %d %q", code, out)
	}
}

func TestVersionInProcess(t *testing.T) {
	for _, arg := range []string{"version", "-version", "--version"} {
		code, out, _ := runCLI(arg)
		if code != 0 || !strings.HasPrefix(out, "tiercel ") || !strings.Contains(out, runtime.Version()) || !strings.Contains(out, "revision ") {
			t.Fatalf("%s: code %d %q", arg, code, out)
		}
	}
}

// TestVersionStamped builds the binary as the Makefile does and reads the
// stamped version back.
func TestVersionStamped(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "tiercel")
	ldflags := "-X github.com/tiercel/tiercel/internal/buildinfo.version=v9.8.7-test " +
		"-X github.com/tiercel/tiercel/internal/buildinfo.revision=0123abc"
	if out, err := exec.Command("go", "build", "-ldflags", ldflags, "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, arg := range []string{"version", "-version"} {
		out, err := exec.Command(bin, arg).Output()
		want := "tiercel v9.8.7-test (revision 0123abc, " + runtime.Version() + ")\n"
		if err != nil || string(out) != want {
			t.Fatalf("%s: %v %q, want %q", arg, err, out, want)
		}
	}
}

// TestDemoHint: the start-up hint is a URL curl can use, whatever the
// listen form (seen: "localhost127.0.0.1:8080").
func TestDemoHint(t *testing.T) {
	f := func(listen, want string) {
		t.Helper()
		if got := localURL(listen); got != want {
			t.Fatalf("localURL(%q) = %q, want %q", listen, got, want)
		}
	}
	f(":8080", "http://localhost:8080")
	f("127.0.0.1:8080", "http://127.0.0.1:8080")
	f("[::1]:8080", "http://[::1]:8080")
	f("0.0.0.0:8080", "http://localhost:8080")
	f("[::]:8080", "http://localhost:8080")
	f("gw.example:80", "http://gw.example:80")
}

// TestLogDurationsAsStrings: durations read "20s" in both formats, as in
// the config file, not 20000000000.
func TestLogDurationsAsStrings(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		var buf bytes.Buffer
		l := newLogger(gateway.LogConfig{Level: "info", Format: format}, &buf)
		l.Info("shutting down", "timeout", 20*time.Second, slog.Group("g", "wait", 1500*time.Millisecond))
		out := buf.String()
		if strings.Contains(out, "20000000000") || !strings.Contains(out, "20s") || !strings.Contains(out, "1.5s") {
			t.Fatalf("%s: %s", format, out)
		}
		if format == "json" {
			var rec map[string]any
			if err := json.Unmarshal(buf.Bytes(), &rec); err != nil || rec["timeout"] != "20s" {
				t.Fatalf("json: %v %s", err, out)
			}
		}
	}
}

// TestRedisLogger: go-redis's Printf lines become slog records.
func TestRedisLogger(t *testing.T) {
	var buf bytes.Buffer
	l := newLogger(gateway.LogConfig{Level: "info", Format: "json"}, &buf)
	redisLogger{l.With("component", "go-redis")}.Printf(context.Background(), "redis: discarding bad PubSub connection: %s\n", "EOF")
	var rec struct{ Level, Msg, Component string }
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("%v: %s", err, buf.String())
	}
	if rec.Level != "WARN" || rec.Component != "go-redis" || rec.Msg != "redis: discarding bad PubSub connection: EOF" {
		t.Fatalf("%+v", rec)
	}
}
