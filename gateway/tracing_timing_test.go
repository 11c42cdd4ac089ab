package gateway

import (
	"strconv"
	"testing"
)

// BenchmarkHandleL1HitTracing is BenchmarkHandleL1Hit with tracing off, on
// and unsampled, on at 1%, and on for every request (exported to a
// loopback OTLP/HTTP receiver).
func BenchmarkHandleL1HitTracing(b *testing.B) {
	recv := startOTLPReceiver(b)
	for _, ratio := range []float64{-1, 0, 0.01, 1} {
		name := "off"
		if ratio >= 0 {
			name = "ratio=" + strconv.FormatFloat(ratio, 'g', -1, 64)
		}
		b.Run(name, func(b *testing.B) {
			s := benchGateway(b, func(cfg *Config) {
				if ratio >= 0 {
					tracingOn(recv.srv.URL, ratio)(cfg)
				} else {
					cachedRoutes("")(cfg)
				}
				cfg.Routes[len(cfg.Routes)-1].RateLimit = "big"
			})
			ctx := newCheckCtx("/c/me", token(b, nil))
			loopL1Hit(b, s, ctx)
		})
	}
}
