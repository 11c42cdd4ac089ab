package gateway

import (
	"context"
	"encoding/hex"
	"net"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"

	"github.com/tiercel/tiercel/internal/tracing"
)

// grpcReceiver is an OTLP/gRPC collector on loopback.
type grpcReceiver struct {
	coltracepb.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []*tracepb.Span
}

func (r *grpcReceiver) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			r.spans = append(r.spans, ss.Spans...)
		}
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func startGRPCReceiver(t *testing.T) (*grpcReceiver, string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &grpcReceiver{}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, r)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Stop(); <-done })
	return r, ln.Addr().String()
}

func TestTracingExportsOverGRPC(t *testing.T) {
	recv, addr := startGRPCReceiver(t)
	h := newHarness(t, func(c *Config) {
		tracingOn("", 1)(c)
		c.Tracing.Protocol, c.Tracing.Endpoint, c.Tracing.Insecure = tracing.ProtocolGRPC, addr, true
	})
	h.do("GET", "/open/g", "", nil, map[string]string{"traceparent": "00-" + callerTrace + "-" + callerSpan + "-01"})
	flushSpans(t, h)
	recv.mu.Lock()
	defer recv.mu.Unlock()
	if len(recv.spans) != 1 || hex.EncodeToString(recv.spans[0].TraceId) != callerTrace || recv.spans[0].Name != "open" {
		t.Fatalf("exported over gRPC: %v", recv.spans)
	}
}

// A collector that is down changes nothing for requests: spans wait in
// the bounded queue, and shutdown gives up on them after its bound.
func TestTracingCollectorDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	h := newHarness(t, tracingOn("http://"+dead, 1))
	for i := range 20 {
		if r := h.get("/c/products/down", ""); r.status != 200 {
			t.Fatalf("request %d: %d %s", i, r.status, r.body)
		}
	}
	start := time.Now()
	_ = h.srv.Shutdown(context.Background())
	if d := time.Since(start); d > tracingShutdownTimeout+2*time.Second {
		t.Fatalf("shutdown took %s with the collector down", d)
	}
}
