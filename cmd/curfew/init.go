package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/curfew/curfew/internal/access"
	"github.com/curfew/curfew/internal/config"
	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/engine"
)

// runInit runs `curfew init --config FILE [--name NAME]`: it creates the
// state directory, the audit key (ed25519, which signs the audit log) and
// the database, signs the log's first event, and prints the secret
// of the first admin token alone on stdout. It is safe to run before the
// daemon starts; run again, it refuses to create a second first token, and
// it never replaces existing state: on a state directory that contradicts
// itself it changes nothing and fails as the daemon does.
func runInit(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("init", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	path := fs.String("config", "/etc/curfew/curfew.yaml", "configuration `FILE`")
	name := fs.String("name", "admin", "operator `NAME` of the first admin token")
	if err := fs.Parse(args); err != nil {
		return flagError(fs, stdout, stderr, "init", "[--config FILE] [--name NAME]", err)
	}
	if fs.NArg() > 0 {
		return usageError(stderr, "init", fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	if err := curfew.ValidateName(*name); err != nil {
		return usageError(stderr, "init", fmt.Errorf("--name: %w", err))
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return usageError(stderr, "init", err)
	}
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	db, key, err := createState(ctx, cfg.StateDir, logger)
	if err != nil {
		fmt.Fprintf(stderr, "curfew: init: %v\n", err)
		return 1
	}
	defer db.Close()
	acc, err := access.New(&access.Config{Store: db, Logger: logger})
	if err != nil {
		fmt.Fprintf(stderr, "curfew: init: %v\n", err)
		return 1
	}
	defer acc.Close()
	secret, err := acc.Bootstrap(ctx, *name)
	if errors.Is(err, curfew.ErrConflict) {
		fmt.Fprintf(stderr, "curfew: init: %s is already initialised (it has operators); add more with `curfew operator add` or `curfew token create`\n", cfg.StateDir)
		return 1
	}
	if err != nil {
		fmt.Fprintf(stderr, "curfew: init: %v\n", err)
		return 1
	}
	// Sign the new log at once, so that the checkpoint file exists from
	// the start.
	eng, err := engine.New(&engine.Config{Store: db, Logger: logger, AuditKey: key})
	if err != nil {
		fmt.Fprintf(stderr, "curfew: init: %v\n", err)
		return 1
	}
	if _, err := eng.Checkpoint(ctx); err != nil {
		fmt.Fprintf(stderr, "curfew: init: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, secret)
	return 0
}
