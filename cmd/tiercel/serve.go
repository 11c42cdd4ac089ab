package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/redis/go-redis/v9"

	"github.com/tiercel/tiercel/gateway"
	"github.com/tiercel/tiercel/internal/buildinfo"
	"github.com/tiercel/tiercel/internal/demo"
)

func serve(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "config file (default: the embedded demo)")
	listen := fs.String("listen", "", "public listener address, overrides the config and TIERCEL_LISTEN")
	adminListen := fs.String("admin-listen", "", "admin listener address, overrides the config and TIERCEL_ADMIN_LISTEN")
	if code, ok := parseFlags(fs, args); !ok {
		return code
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
	// go-redis has one process-wide logger; the process is ours to set.
	redis.SetLogger(redisLogger{logger.With("component", "go-redis")})
	bi := buildinfo.Get()
	logger.Info("tiercel starting", "version", bi.Version, "revision", bi.Revision, "go", bi.GoVersion)
	if origin != nil {
		logger.Info("embedded demo: no -config given", "demo_origin", originAddr,
			"try", "TOKEN=$(tiercel token -sub alice); curl -H \"Authorization: Bearer $TOKEN\" "+localURL(cfg.Server.Listen)+"/api/products/42")
	}
	srv, err := gateway.New(cfg, logger)
	if err != nil {
		logger.Error("cannot start", "error", err)
		return 1
	}
	// SIGHUP and POST /admin/reload read the file again as validate does.
	ov := overrides{listen: *listen, adminListen: *adminListen}
	srv.SetLoader(func() (gateway.Config, error) { return loadConfig(*configPath, originAddr, ov) })
	srv.SetAccessWriter(stderr)
	if err := srv.Start(); err != nil {
		logger.Error("cannot start", "error", err)
		_ = srv.Shutdown(context.Background())
		return 1
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sig)
	got := <-sig
	for ; got == syscall.SIGHUP; got = <-sig {
		reload(srv)
	}
	return stop(srv, cfg.Server, logger, got, sig)
}

// reload re-reads the config on SIGHUP. The gateway logs and counts the
// outcome; a bad file leaves the old config serving.
func reload(srv *gateway.Server) {
	_ = srv.ReloadConfig()
}

// localURL is where a client on this host reaches a listen address: the
// host as given, or localhost for every interface (":8080", "0.0.0.0",
// "[::]"), IPv6 in brackets.
func localURL(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "http://" + listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// parseFlags parses a command's flags: -h and -help print the usage and
// exit 0 (asking for help is not an error), a bad flag exits 2.
func parseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0, false
	case err != nil:
		return 2, false
	}
	return 0, true
}
