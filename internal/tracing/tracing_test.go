package tracing

import (
	"context"
	"runtime"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/tiercel/tiercel/internal/testwait"
)

func TestEndpoint(t *testing.T) {
	f := func(endpoint, host, path string, insecure bool) {
		t.Helper()
		c := Config{Endpoint: endpoint}
		h, p, err := c.endpoint()
		if err != nil || h != host || p != path || c.insecure() != insecure {
			t.Fatalf("%q: %q %q %v insecure=%v", endpoint, h, p, err, c.insecure())
		}
	}
	f("collector:4318", "collector:4318", "", false)
	f("http://collector:4318", "collector:4318", "", true)
	f("http://collector:4318/", "collector:4318", "", true)
	f("https://otlp.example.com/otlp/v1/traces", "otlp.example.com", "/otlp/v1/traces", false)
}

func TestAppendTraceparent(t *testing.T) {
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled})
	const want = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	if got := string(AppendTraceparent(nil, sc)); got != want {
		t.Fatalf("AppendTraceparent = %q, want %q", got, want)
	}
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { buf = AppendTraceparent(buf[:0], sc) }); n != 0 {
		t.Fatalf("AppendTraceparent allocates %.1f times", n)
	}
}

func TestSample(t *testing.T) {
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	sampled := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true})
	unsampled := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, Remote: true})
	f := func(p Provider, parent trace.SpanContext, want bool) {
		t.Helper()
		if got := p.Sample(parent); got != want {
			t.Fatalf("decide=%v ratio=%v parent sampled=%v: %v", p.decide, p.ratio, parent.IsSampled(), got)
		}
	}
	f(Provider{decide: true, ratio: 0}, trace.SpanContext{}, false)
	f(Provider{decide: true, ratio: 1}, trace.SpanContext{}, true)
	f(Provider{decide: true, ratio: 0}, sampled, true)
	f(Provider{decide: true, ratio: 1}, unsampled, false)
	f(Provider{}, trace.SpanContext{}, true) // the SDK's sampler decides
}

func TestNewOffAndOn(t *testing.T) {
	before := runtime.NumGoroutine()
	defer func() {
		// The batcher's and the exporters' goroutines end with Shutdown.
		testwait.For(t, 5*time.Second, "no goroutine left behind", func() bool { return runtime.NumGoroutine() <= before })
	}()
	p, err := New(context.Background(), Config{}, "v0")
	if p != nil || err != nil {
		t.Fatalf("zero config: %v, %v", p, err)
	}
	for _, proto := range []string{ProtocolHTTP, ProtocolGRPC} {
		c := Config{Enabled: true, Protocol: proto, Endpoint: "127.0.0.1:1", Insecure: true}
		c.SetDefaults()
		p, err := New(context.Background(), c, "v0")
		if err != nil {
			t.Fatalf("%s: %v", proto, err)
		}
		// Nothing queued: Shutdown does not wait for the missing collector.
		if err := p.Shutdown(context.Background()); err != nil {
			t.Fatalf("%s: Shutdown: %v", proto, err)
		}
	}
}
