package invalidation

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/segmentio/kafka-go"
)

// kafkaLogger routes kafka-go's Printf lines into slog at level, so they
// are structured and filtered like the rest. A nil logger gives nil:
// kafka-go then logs nothing.
func kafkaLogger(l *slog.Logger, level slog.Level, attrs ...any) kafka.Logger {
	if l == nil {
		return nil
	}
	l = l.With(append([]any{"component", "kafka-go"}, attrs...)...)
	return kafka.LoggerFunc(func(format string, args ...any) {
		l.Log(context.Background(), level, strings.TrimSpace(fmt.Sprintf(format, args...)))
	})
}
