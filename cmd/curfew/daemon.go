package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/curfew/curfew/internal/api"
	"github.com/curfew/curfew/internal/config"
	"github.com/curfew/curfew/internal/enforce"
	"github.com/curfew/curfew/internal/engine"
	"github.com/curfew/curfew/internal/netfilter"
)

// runDaemon runs `curfew daemon --config FILE` until SIGINT or SIGTERM.
func runDaemon(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("daemon", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	path := fs.String("config", "/etc/curfew/curfew.yaml", "configuration file")
	if err := fs.Parse(args); err != nil {
		return usageError(stderr, "daemon", err)
	}
	if fs.NArg() > 0 {
		return usageError(stderr, "daemon", fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return usageError(stderr, "daemon", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.Log.Level}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := daemon(ctx, cfg, logger); err != nil {
		logger.Error("daemon stopped", "err", err)
		return 1
	}
	return 0
}

// daemon wires the parts together and runs until ctx is done: the config
// gives the store, the store and the enforcers give the engine, the engine
// gives the API.
//
// On the way out it leaves the nftables table in place, so the kernel keeps
// enforcing (and ending on time) every restriction while the daemon is
// down; the next start reconciles it.
func daemon(ctx context.Context, cfg *config.Config, logger *slog.Logger) error {
	db, err := openState(ctx, cfg.StateDir, logger.With("component", "sqlite"))
	if err != nil {
		return err
	}
	defer db.Close()

	nf, err := netfilter.New(&netfilter.Config{
		Logger:        logger.With("component", "netfilter"),
		LANInterfaces: cfg.LAN.Interfaces,
	})
	if err != nil {
		return err
	}

	m := newMetrics()
	eng, err := engine.New(&engine.Config{
		Store:    db,
		Backends: []enforce.Backend{nf},
		Logger:   logger.With("component", "engine"),
		Metrics:  m,
	})
	if err != nil {
		return err
	}
	defer eng.Close()

	handler, err := api.NewHandler(&api.HandlerConfig{
		Service: eng,
		Auth:    eng,
		Logger:  logger.With("component", "api"),
		Metrics: promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{}),
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.API.Listen.String())
	if err != nil {
		return fmt.Errorf("listening for the API: %w", err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.With("component", "http").Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	logger.Info("curfew daemon started", "api", ln.Addr().String(), "lan_interfaces", cfg.LAN.Interfaces, "state_dir", cfg.StateDir)

	runErr := make(chan error, 1)
	go func() { runErr <- eng.Run(ctx) }()

	var err2 error
	select {
	case err2 = <-runErr:
	case err := <-serveErr:
		err2 = fmt.Errorf("serving the API: %w", err)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Warn("shutting down the API", "err", err)
	}
	if err2 == nil {
		logger.Info("curfew daemon stopped; the kernel keeps enforcing until restart")
	}
	return err2
}
