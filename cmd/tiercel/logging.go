package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/tiercel/tiercel/gateway"
)

// newLogger builds the process's slog logger from the log section.
func newLogger(c gateway.LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: durationsAsStrings}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// durationsAsStrings writes durations as "20s": the JSON handler writes
// nanoseconds (20000000000), which nobody reads right at a glance and
// which differs from the config's spelling of the same value.
func durationsAsStrings(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}

// redisLogger routes go-redis's Printf lines (its internal.Logging
// interface) into slog instead of the standard logger's raw
// "redis: 2026/12/03 ... pool.go:770" lines. They report trouble (bad
// connections, failovers), hence warn.
type redisLogger struct{ l *slog.Logger }

func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	r.l.Log(ctx, slog.LevelWarn, strings.TrimSpace(fmt.Sprintf(format, v...)))
}
