package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/tiercel/tiercel/gateway"
	"github.com/tiercel/tiercel/internal/demo"
)

func serve(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "config file (default: the embedded demo)")
	listen := fs.String("listen", "", "public listener address, overrides the config and TIERCEL_LISTEN")
	adminListen := fs.String("admin-listen", "", "admin listener address, overrides the config and TIERCEL_ADMIN_LISTEN")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var origin *demo.Origin
	originAddr := ""
	if *configPath == "" {
		var err error
		if origin, err = demo.StartOrigin(); err != nil {
			fmt.Fprintf(stderr, "tiercel: cannot start the demo origin: %v\n", err)
			return 1
		}
		defer origin.Close()
		originAddr = origin.Addr()
	}
	cfg, err := loadConfig(*configPath, originAddr, overrides{listen: *listen, adminListen: *adminListen})
	if err != nil {
		fmt.Fprintf(stderr, "tiercel: %v\n", err)
		return 1
	}
	logger := newLogger(cfg.Log, stderr)
	if origin != nil {
		logger.Info("embedded demo: no -config given", "demo_origin", originAddr,
			"try", "TOKEN=$(tiercel token -sub alice); curl -H \"Authorization: Bearer $TOKEN\" localhost"+cfg.Server.Listen+"/api/products/42")
	}
	srv, err := gateway.New(cfg, logger)
	if err != nil {
		logger.Error("cannot start", "error", err)
		return 1
	}
	if err := srv.Start(); err != nil {
		logger.Error("cannot start", "error", err)
		_ = srv.Shutdown(context.Background())
		return 1
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	got := <-sig
	signal.Stop(sig)
	logger.Info("shutting down: draining in-flight requests", "signal", got.String(), "timeout", cfg.Server.ShutdownTimeout)
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		logger.Error("shutdown did not finish cleanly", "error", err)
		return 1
	}
	logger.Info("stopped")
	return 0
}

func newLogger(c gateway.LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
