package tracing

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Config is the tracing section of the config file. Its zero value is off:
// no provider, no spans, nothing read from the request.
//
// Precedence: a value set here wins; a value left unset is read by the
// OpenTelemetry SDK from the standard environment variables
// (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
// OTEL_EXPORTER_OTLP_HEADERS, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
// OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG, ...), then defaults.
type Config struct {
	// Enabled turns tracing on.
	Enabled bool `yaml:"enabled"`
	// Endpoint is the collector: "host:port", or a URL
	// ("http://collector:4318", "https://collector:4318/custom/path"); an
	// http:// URL is sent without TLS. Default: the OTEL_EXPORTER_OTLP_*
	// variables, else localhost:4318 (http) or localhost:4317 (grpc).
	Endpoint string `yaml:"endpoint"`
	// Protocol is http (OTLP/HTTP protobuf, default) or grpc.
	Protocol string `yaml:"protocol"`
	// Insecure sends to a host:port endpoint without TLS.
	Insecure bool `yaml:"insecure"`
	// Headers are sent with every export (an API key for a hosted
	// collector); default: OTEL_EXPORTER_OTLP_HEADERS.
	Headers map[string]string `yaml:"headers"`
	// SampleRatio is the share of new traces recorded, 0 to 1; a request
	// that carries a traceparent follows its caller's decision. Unset: the
	// OTEL_TRACES_SAMPLER variables, else 1 (every trace).
	SampleRatio *float64 `yaml:"sample_ratio"`
	// ServiceName is the resource's service.name; default
	// OTEL_SERVICE_NAME, else "tiercel".
	ServiceName string `yaml:"service_name"`
	// Subject says whether a span carries the caller's token subject:
	// omit (default: no personal data in traces) or hashed (a truncated
	// SHA-256, enough to tell callers apart, not to name them).
	Subject string `yaml:"subject"`
	// MaxQueueSize bounds the spans waiting for export; beyond it spans
	// are dropped, never waited for. Default 2048 (the SDK's).
	MaxQueueSize int `yaml:"max_queue_size"`
}

const (
	ProtocolHTTP  = "http"
	ProtocolGRPC  = "grpc"
	SubjectOmit   = "omit"
	SubjectHashed = "hashed"
)

// SetDefaults fills the zero values with the documented defaults.
func (c *Config) SetDefaults() {
	if c.Protocol == "" {
		c.Protocol = ProtocolHTTP
	}
	if c.Subject == "" {
		c.Subject = SubjectOmit
	}
	if c.MaxQueueSize == 0 {
		c.MaxQueueSize = 2048
	}
}

// Validate checks c after SetDefaults; errors name the field.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Protocol != ProtocolHTTP && c.Protocol != ProtocolGRPC {
		add("protocol: %q is not one of http, grpc", c.Protocol)
	}
	if c.Subject != SubjectOmit && c.Subject != SubjectHashed {
		add("subject: %q is not one of omit, hashed", c.Subject)
	}
	if r := c.SampleRatio; r != nil && !(*r >= 0 && *r <= 1) {
		add("sample_ratio: %v is not between 0 and 1", *r)
	}
	if c.MaxQueueSize < 0 {
		add("max_queue_size: must be >= 0")
	}
	if c.Endpoint != "" {
		if _, _, err := c.endpoint(); err != nil {
			add("endpoint: %v", err)
		}
	}
	for k := range c.Headers {
		if k == "" || strings.ContainsAny(k, " \t\r\n:") {
			add("headers: %q is not a header name", k)
		}
	}
	return errors.Join(errs...)
}

// endpoint splits Endpoint into the host:port the exporters take, and a URL
// path ("" for the default /v1/traces). An http:// URL sets insecure.
func (c *Config) endpoint() (hostPort, path string, err error) {
	if !strings.Contains(c.Endpoint, "://") {
		if strings.ContainsAny(c.Endpoint, "/ ") || !strings.Contains(c.Endpoint, ":") {
			return "", "", fmt.Errorf("%q is neither host:port nor an http(s) URL", c.Endpoint)
		}
		return c.Endpoint, "", nil
	}
	u, err := url.Parse(c.Endpoint)
	if err != nil {
		return "", "", fmt.Errorf("cannot parse %q: %w", c.Endpoint, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", "", fmt.Errorf("%q: scheme must be http or https", c.Endpoint)
	}
	if u.Host == "" {
		return "", "", fmt.Errorf("%q has no host", c.Endpoint)
	}
	if u.Path == "/" {
		u.Path = ""
	}
	return u.Host, u.Path, nil
}

func (c *Config) insecure() bool {
	return c.Insecure || strings.HasPrefix(c.Endpoint, "http://")
}
