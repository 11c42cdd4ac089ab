package gateway

import (
	"io"
	"log/slog"
	"testing"
)

// BenchmarkAccessLog is BenchmarkHandleL1Hit with the access log off and
// in each format, written to io.Discard: the cost of the line alone.
func BenchmarkAccessLog(b *testing.B) {
	for _, format := range []string{"off", "text", "json", "common"} {
		b.Run(format, func(b *testing.B) {
			s := benchGateway(b, func(cfg *Config) {
				cachedRoutes("")(cfg)
				cfg.Routes[len(cfg.Routes)-1].RateLimit = "big"
				cfg.Log.Access, cfg.Log.AccessFormat = format != "off", format
				if format == "off" {
					cfg.Log.AccessFormat = ""
				}
			})
			s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
			s.SetAccessWriter(io.Discard)
			ctx := newCheckCtx("/c/me", token(b, nil))
			ctx.Request.Header.SetUserAgent("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
			loopL1Hit(b, s, ctx)
		})
	}
}
