// Package tracing builds the OpenTelemetry TracerProvider the gateway's
// spans go to, from the tracing section of the config file and the standard
// OTEL_* environment variables, and exports them over OTLP.
//
// It is a leaf: it knows nothing of HTTP servers, fasthttp or the gateway,
// so that cache, features and invalidation can later make child spans from
// a context.Context without importing upward. It must never block a request
// on the collector: spans go through a bounded queue that drops when full.
package tracing
