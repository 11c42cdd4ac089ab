package gateway

import (
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/tiercel/tiercel/internal/tracing"
)

// otlpReceiver is an OTLP/HTTP collector on loopback: it decodes what the
// gateway exports with the official protobuf definitions.
type otlpReceiver struct {
	srv   *httptest.Server
	mu    sync.Mutex
	spans []*tracepb.Span
	res   map[string]string // the last batch's resource attributes
}

func startOTLPReceiver(t testing.TB) *otlpReceiver {
	r := &otlpReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		var msg coltracepb.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(body, &msg)
		}
		if err != nil || req.URL.Path != "/v1/traces" || req.Header.Get("Content-Type") != "application/x-protobuf" {
			t.Errorf("OTLP receiver: %s %s %q: %v", req.Method, req.URL.Path, req.Header.Get("Content-Type"), err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		for _, rs := range msg.ResourceSpans {
			r.res = map[string]string{}
			for _, kv := range rs.GetResource().GetAttributes() {
				r.res[kv.Key] = kv.GetValue().GetStringValue()
			}
			for _, ss := range rs.ScopeSpans {
				r.spans = append(r.spans, ss.Spans...)
			}
		}
		r.mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *otlpReceiver) exported() ([]*tracepb.Span, map[string]string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*tracepb.Span(nil), r.spans...), r.res
}

func tracingOn(endpoint string, ratio float64) func(*Config) {
	return func(c *Config) {
		cachedRoutes("")(c)
		c.Tracing = tracing.Config{Enabled: true, Endpoint: endpoint, SampleRatio: &ratio, ServiceName: "tiercel-test"}
	}
}

func flushSpans(t *testing.T, h *harness) {
	t.Helper()
	if err := h.srv.tracer.ForceFlush(context.Background()); err != nil {
		t.Fatalf("ForceFlush: %v", err)
	}
}

func spanAttrs(sp *tracepb.Span) map[string]string {
	m := map[string]string{}
	for _, kv := range sp.Attributes {
		switch v := kv.GetValue().GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.Key] = v.StringValue
		case *commonpb.AnyValue_IntValue:
			m[kv.Key] = strconv.FormatInt(v.IntValue, 10)
		}
	}
	return m
}

const (
	callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerSpan  = "00f067aa0ba902b7"
)

// A request with the caller's traceparent: its server span is the
// caller's child, carries the route and outcome, and the origin's fill
// request is the span's child in turn.
func TestTracingServerSpanAndFillPropagation(t *testing.T) {
	recv := startOTLPReceiver(t)
	h := newHarness(t, tracingOn(recv.srv.URL, 1))
	r := h.do("GET", "/c/products/7", "", nil, map[string]string{
		"traceparent": "00-" + callerTrace + "-" + callerSpan + "-01",
		"tracestate":  "vendor=x",
		"baggage":     "k=v",
	})
	if r.status != 200 || r.header.Get("X-Cache") != "MISS" {
		t.Fatalf("GET: %d %q %s", r.status, r.header.Get("X-Cache"), r.body)
	}
	flushSpans(t, h)
	spans, res := recv.exported()
	if len(spans) != 1 {
		t.Fatalf("%d spans exported, want 1", len(spans))
	}
	sp := spans[0]
	if got := hex.EncodeToString(sp.TraceId); got != callerTrace {
		t.Errorf("trace id %s, want the caller's %s", got, callerTrace)
	}
	if got := hex.EncodeToString(sp.ParentSpanId); got != callerSpan {
		t.Errorf("parent span id %s, want the caller's %s", got, callerSpan)
	}
	if sp.Name != "c-products" || sp.Kind != tracepb.Span_SPAN_KIND_SERVER {
		t.Errorf("span %q kind %v", sp.Name, sp.Kind)
	}
	attrs := spanAttrs(sp)
	for k, want := range map[string]string{
		"http.request.method":       "GET",
		"url.path":                  "/c/products/7",
		"http.response.status_code": "200",
		"tiercel.cache":             "MISS",
		"tiercel.request_id":        r.header.Get("X-Request-ID"),
	} {
		if attrs[k] != want {
			t.Errorf("attribute %s = %q, want %q (all: %v)", k, attrs[k], want, attrs)
		}
	}
	if _, ok := attrs["tiercel.subject_hash"]; ok {
		t.Error("subject exported with tracing.subject omit")
	}
	if res["service.name"] != "tiercel-test" || res["service.version"] == "" || res["host.name"] == "" {
		t.Errorf("resource %v", res)
	}
	hdr, _ := h.origin.lastHeaders()
	want := "00-" + callerTrace + "-" + hex.EncodeToString(sp.SpanId) + "-01"
	if got := hdr.Get("Traceparent"); got != want {
		t.Errorf("fill traceparent %q, want %q", got, want)
	}
	if got := hdr.Get("Tracestate"); got != "vendor=x" {
		t.Errorf("fill tracestate %q", got)
	}
	if got := hdr.Get("Baggage"); got != "" {
		t.Errorf("fill carries baggage %q: only keyed headers may reach a shared fill", got)
	}

	// A proxied request: the upstream sees the server span, not the caller's.
	h.do("GET", "/open/x", "", nil, map[string]string{"traceparent": "00-" + callerTrace + "-" + callerSpan + "-01"})
	flushSpans(t, h)
	spans, _ = recv.exported()
	if len(spans) != 2 {
		t.Fatalf("%d spans exported, want 2", len(spans))
	}
	hdr, _ = h.origin.lastHeaders()
	if want := "00-" + callerTrace + "-" + hex.EncodeToString(spans[1].SpanId) + "-01"; hdr.Get("Traceparent") != want {
		t.Errorf("proxied traceparent %q, want %q", hdr.Get("Traceparent"), want)
	}
}

// Trace context read as all of its field lines: a tracestate split over
// two lines reaches the origin whole, and a traceparent sent twice is not
// trusted (the span starts a trace of its own).
func TestTracingHeaderFieldLines(t *testing.T) {
	recv := startOTLPReceiver(t)
	h := newHarness(t, tracingOn(recv.srv.URL, 1))
	parent := "traceparent: 00-" + callerTrace + "-" + callerSpan + "-01"
	if r := h.raw("GET", "/c/products/8", parent, "tracestate: a=1", "tracestate: b=2"); r.status != 200 {
		t.Fatalf("GET: %d %s", r.status, r.body)
	}
	hdr, _ := h.origin.lastHeaders()
	if got := strings.Join(hdr.Values("Tracestate"), ","); got != "a=1,b=2" {
		t.Errorf("fill tracestate %q, want both field lines, a=1,b=2", got)
	}
	other := "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	if r := h.raw("GET", "/c/products/9", parent, other); r.status != 200 {
		t.Fatalf("GET: %d %s", r.status, r.body)
	}
	flushSpans(t, h)
	spans, _ := recv.exported()
	if len(spans) != 2 {
		t.Fatalf("%d spans exported, want 2", len(spans))
	}
	if got := hex.EncodeToString(spans[0].TraceId); got != callerTrace {
		t.Errorf("first trace id %s, want the caller's %s", got, callerTrace)
	}
	if got := hex.EncodeToString(spans[1].TraceId); got == callerTrace || got == "0af7651916cd43dd8448eb211c80319c" || len(spans[1].ParentSpanId) != 0 {
		t.Errorf("two traceparents: trace %s parent %x, want a new root trace", got, spans[1].ParentSpanId)
	}
}

// The traceparent is not part of the cache key: another trace hits the
// entry the first one stored.
func TestTracingTraceparentNotKeyed(t *testing.T) {
	recv := startOTLPReceiver(t)
	h := newHarness(t, tracingOn(recv.srv.URL, 1))
	h.do("GET", "/c/products/8", "", nil, map[string]string{"traceparent": "00-" + callerTrace + "-" + callerSpan + "-01"})
	h.srv.current().cache.Wait()
	r := h.do("GET", "/c/products/8", "", nil, map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})
	if got := r.header.Get("X-Cache"); got != "HIT-L1" {
		t.Fatalf("second trace: X-Cache %q, want HIT-L1", got)
	}
}

// At sample_ratio 0 a new trace exports nothing, and a caller's
// unsampled decision is followed at ratio 1.
func TestTracingUnsampledExportsNothing(t *testing.T) {
	recv := startOTLPReceiver(t)
	h := newHarness(t, tracingOn(recv.srv.URL, 0))
	for _, p := range []string{"/c/products/9", "/open/y"} {
		if r := h.get(p, ""); r.status != 200 {
			t.Fatalf("GET %s: %d", p, r.status)
		}
	}
	flushSpans(t, h)
	if spans, _ := recv.exported(); len(spans) != 0 {
		t.Fatalf("ratio 0 exported %d spans", len(spans))
	}

	h1 := newHarness(t, tracingOn(recv.srv.URL, 1))
	h1.do("GET", "/open/z", "", nil, map[string]string{"traceparent": "00-" + callerTrace + "-" + callerSpan + "-00"})
	flushSpans(t, h1)
	if spans, _ := recv.exported(); len(spans) != 0 {
		t.Fatalf("an unsampled caller's request exported %d spans", len(spans))
	}
}

// tracing.subject hashed: the span tells callers apart without naming them.
func TestTracingSubjectHashed(t *testing.T) {
	recv := startOTLPReceiver(t)
	h := newHarness(t, func(c *Config) {
		tracingOn(recv.srv.URL, 1)(c)
		c.Tracing.Subject = tracing.SubjectHashed
	})
	if r := h.get("/c/me", token(t, nil)); r.status != 200 {
		t.Fatalf("GET /c/me: %d %s", r.status, r.body)
	}
	flushSpans(t, h)
	spans, _ := recv.exported()
	if len(spans) != 1 {
		t.Fatalf("%d spans", len(spans))
	}
	got := spanAttrs(spans[0])["tiercel.subject_hash"]
	if len(got) != 16 || strings.Contains(got, "user") {
		t.Fatalf("tiercel.subject_hash = %q", got)
	}
}

func TestTracingConfigValidate(t *testing.T) {
	f := func(mutate func(*tracing.Config), want string) {
		t.Helper()
		c := testConfig("127.0.0.1:1")
		mutate(&c.Tracing)
		c.SetDefaults()
		err := c.Validate()
		if want == "" {
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			return
		}
		if err == nil || !strings.Contains("\n"+err.Error()+"\n", "\n"+want+"\n") {
			t.Fatalf("Validate = %v, want a line %q", err, want)
		}
	}
	ratio := func(r float64) *float64 { return &r }
	f(func(*tracing.Config) {}, "")
	f(func(c *tracing.Config) {
		*c = tracing.Config{Enabled: true, Endpoint: "collector:4317", Protocol: "grpc", SampleRatio: ratio(0.01)}
	}, "")
	f(func(c *tracing.Config) { c.Protocol = "udp" }, `tracing.protocol: "udp" is not one of http, grpc`)
	f(func(c *tracing.Config) { c.SampleRatio = ratio(1.5) }, "tracing.sample_ratio: 1.5 is not between 0 and 1")
	f(func(c *tracing.Config) { c.Subject = "clear" }, `tracing.subject: "clear" is not one of omit, hashed`)
	f(func(c *tracing.Config) { c.Endpoint = "ftp://x:1" }, `tracing.endpoint: "ftp://x:1": scheme must be http or https`)
	f(func(c *tracing.Config) { c.Endpoint = "collector" }, `tracing.endpoint: "collector" is neither host:port nor an http(s) URL`)
	f(func(c *tracing.Config) { c.MaxQueueSize = -1 }, "tracing.max_queue_size: must be >= 0")
}

// Tracing is restart-only: one provider per process.
func TestTracingReloadNeedsRestart(t *testing.T) {
	a, b := testConfig("127.0.0.1:1"), testConfig("127.0.0.1:1")
	b.Tracing.Enabled = true
	if got := restartFields(a, b); len(got) != 1 || got[0] != "tracing.enabled" {
		t.Fatalf("restartFields = %q", got)
	}
}
