package tracing

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// instrumentation names the code that makes the spans (the scope).
const instrumentation = "github.com/tiercel/tiercel"

// Provider is a running tracer provider and what requests need from it.
// It is built once per process: spans in flight outlive a config reload.
type Provider struct {
	tp *sdktrace.TracerProvider
	// Tracer starts spans; Propagator reads and writes W3C traceparent,
	// tracestate and baggage.
	Tracer      trace.Tracer
	Propagator  propagation.TextMapPropagator
	hashSubject bool
	// decide: ratio is tracing.sample_ratio, applied by sample before any
	// span exists. Without it (the OTEL_TRACES_SAMPLER variables) the SDK
	// decides, and an unsampled request costs a non-recording span.
	decide bool
	ratio  float64
}

// New builds the provider cfg asks for (validated, defaults set), or nil
// when tracing is off. version is the build's, for service.version. It
// dials nothing: both exporters connect on their first export.
func New(ctx context.Context, cfg Config, version string) (*Provider, error) {
	if !cfg.Enabled {
		return nil, nil
	}
	exp, err := newExporter(ctx, &cfg)
	if err != nil {
		return nil, err
	}
	res, err := newResource(ctx, &cfg, version)
	if err != nil {
		return nil, err
	}
	opts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(res),
		// Bounded and dropping: the default, spelt out because a request
		// must never wait for a slow collector (no WithBlocking).
		sdktrace.WithBatcher(exp,
			sdktrace.WithMaxQueueSize(cfg.MaxQueueSize),
			sdktrace.WithMaxExportBatchSize(min(cfg.MaxQueueSize, 512))),
	}
	if cfg.SampleRatio != nil {
		// The ratio is applied by sample, before the span exists: the SDK
		// would allocate a non-recording span for each request it drops.
		// What reaches the SDK is sampled; children follow their parent.
		// Unset, the SDK reads OTEL_TRACES_SAMPLER(_ARG), defaulting to
		// parent-based always-on.
		opts = append(opts, sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	p := &Provider{
		tp:          tp,
		Tracer:      tp.Tracer(instrumentation),
		Propagator:  propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		hashSubject: cfg.Subject == SubjectHashed,
	}
	if cfg.SampleRatio != nil {
		p.decide, p.ratio = true, *cfg.SampleRatio
	}
	return p, nil
}

// StartServer starts the server span of a request named name, a child of
// the span context in parent if any. Call it only for a request Sample
// kept: an unsampled request makes no span at all.
func (p *Provider) StartServer(parent context.Context, name string, start time.Time) trace.Span {
	_, span := p.Tracer.Start(parent, name, trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(start))
	return span
}

// Sample is the parent-based ratio sampler, decided before any span
// exists: a caller's decision (parent) is followed, a new trace (parent
// not valid) is kept with probability tracing.sample_ratio; each call on
// a new trace is a new draw. The draw is not derived from the trace id
// (which does not exist yet): that is consistent with samplers downstream
// that follow their parent, as parent-based samplers do.
func (p *Provider) Sample(parent trace.SpanContext) bool {
	switch {
	case !p.decide:
		return true
	case parent.IsValid():
		return parent.IsSampled()
	case p.ratio >= 1:
		return true
	case p.ratio <= 0:
		return false
	}
	return rand.Float64() < p.ratio
}

// AppendTraceparent appends sc as a W3C traceparent value
// (version-traceid-spanid-flags) without allocating.
func AppendTraceparent(dst []byte, sc trace.SpanContext) []byte {
	tid, sid := sc.TraceID(), sc.SpanID()
	dst = append(dst, "00-"...)
	dst = hex.AppendEncode(dst, tid[:])
	dst = append(dst, '-')
	dst = hex.AppendEncode(dst, sid[:])
	dst = append(dst, '-')
	return hex.AppendEncode(dst, []byte{byte(sc.TraceFlags())})
}

func newExporter(ctx context.Context, cfg *Config) (sdktrace.SpanExporter, error) {
	var host, path string
	if cfg.Endpoint != "" {
		var err error
		if host, path, err = cfg.endpoint(); err != nil {
			return nil, fmt.Errorf("cannot use tracing.endpoint: %w", err)
		}
	}
	if cfg.Protocol == ProtocolGRPC {
		var opts []otlptracegrpc.Option
		if host != "" {
			opts = append(opts, otlptracegrpc.WithEndpoint(host))
		}
		if cfg.insecure() {
			opts = append(opts, otlptracegrpc.WithInsecure())
		}
		if len(cfg.Headers) > 0 {
			opts = append(opts, otlptracegrpc.WithHeaders(cfg.Headers))
		}
		exp, err := otlptracegrpc.New(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("cannot create the OTLP/gRPC exporter: %w", err)
		}
		return exp, nil
	}
	var opts []otlptracehttp.Option
	if host != "" {
		opts = append(opts, otlptracehttp.WithEndpoint(host))
	}
	if path != "" {
		opts = append(opts, otlptracehttp.WithURLPath(path))
	}
	if cfg.insecure() {
		opts = append(opts, otlptracehttp.WithInsecure())
	}
	if len(cfg.Headers) > 0 {
		opts = append(opts, otlptracehttp.WithHeaders(cfg.Headers))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("cannot create the OTLP/HTTP exporter: %w", err)
	}
	return exp, nil
}

// newResource merges, later winning: the defaults, the host, the
// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES variables, then
// tracing.service_name.
func newResource(ctx context.Context, cfg *Config, version string) (*resource.Resource, error) {
	opts := []resource.Option{
		resource.WithAttributes(attribute.String("service.name", "tiercel"), attribute.String("service.version", version)),
		resource.WithHost(),
		resource.WithFromEnv(),
	}
	if cfg.ServiceName != "" {
		opts = append(opts, resource.WithAttributes(attribute.String("service.name", cfg.ServiceName)))
	}
	res, err := resource.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("cannot build the tracing resource: %w", err)
	}
	return res, nil
}

// Subject is the attribute a span carries for the caller's subject, if
// tracing.subject allows one.
func (p *Provider) Subject(sub string) (attribute.KeyValue, bool) {
	if !p.hashSubject || sub == "" {
		return attribute.KeyValue{}, false
	}
	sum := sha256.Sum256([]byte(sub))
	return attribute.String("tiercel.subject_hash", hex.EncodeToString(sum[:8])), true
}

// ForceFlush exports every span ended so far.
func (p *Provider) ForceFlush(ctx context.Context) error { return p.tp.ForceFlush(ctx) }

// Shutdown exports what is queued, until ctx ends, and stops the exporter.
func (p *Provider) Shutdown(ctx context.Context) error {
	if err := p.tp.Shutdown(ctx); err != nil {
		return fmt.Errorf("cannot shut tracing down: %w", err)
	}
	return nil
}
