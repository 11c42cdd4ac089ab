package main

import (
	"context"
	"log/slog"
	"os"
	"syscall"

	"github.com/tiercel/tiercel/gateway"
)

// stop drains and stops srv after the signal first (SIGTERM or SIGINT):
// server.drain_delay of serving while /readyz answers 503, then up to
// server.shutdown_timeout for the requests in flight (gateway.Server.
// Shutdown). A second SIGTERM or SIGINT on more stops at once (a SIGHUP
// is ignored then): someone at a terminal
// pressing Ctrl-C again has no balancer to wait for.
func stop(srv *gateway.Server, cfg gateway.ServerConfig, logger *slog.Logger, first os.Signal, more <-chan os.Signal) int {
	logger.Info("shutting down: not ready, serving for the drain delay, then draining in-flight requests",
		"signal", first.String(), "drain_delay", max(cfg.DrainDelay, 0), "timeout", cfg.ShutdownTimeout,
		"hint", "send the signal again to stop at once")
	ctx, cancel := context.WithTimeout(context.Background(), max(cfg.DrainDelay, 0)+cfg.ShutdownTimeout)
	defer cancel()
	go func() {
		for {
			select {
			case sig := <-more:
				if sig == syscall.SIGHUP {
					logger.Info("reload ignored: shutting down", "signal", sig.String())
					continue
				}
				logger.Warn("second signal: stopping without draining", "signal", sig.String())
				cancel()
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	if err := srv.Shutdown(ctx); err != nil {
		logger.Error("shutdown did not finish cleanly", "error", err)
		return 1
	}
	logger.Info("stopped")
	return 0
}
