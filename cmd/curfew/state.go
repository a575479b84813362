package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/curfew/curfew/internal/sqlite"
)

// The files curfew keeps in its state directory.
const (
	dbFile   = "curfew.db"
	keyFile  = "audit.key"  // HMAC key of the audit chain; never in the database
	headFile = "audit.head" // newest audit entry, to detect a truncated log
)

// openState opens the database in dir with its audit key. It fails with a
// message naming `curfew init` if dir was never initialised.
func openState(ctx context.Context, dir string, logger *slog.Logger) (*sqlite.DB, error) {
	key, err := os.ReadFile(filepath.Join(dir, keyFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("state directory %s is not initialised: run `curfew init --config FILE` first", dir)
	}
	if err != nil {
		return nil, fmt.Errorf("reading audit key: %w", err)
	}
	db, err := sqlite.Open(ctx, filepath.Join(dir, dbFile), &sqlite.Config{
		AuditKey: key,
		HeadPath: filepath.Join(dir, headFile),
		Logger:   logger,
	})
	if err != nil {
		return nil, fmt.Errorf("opening database: %w", err)
	}
	return db, nil
}

// initState creates dir and its audit key if they do not exist yet.
func initState(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating state directory: %w", err)
	}
	path := filepath.Join(dir, keyFile)
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	key, err := sqlite.GenerateKey()
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("creating audit key: %w", err)
	}
	if _, err := f.Write(key); err != nil {
		f.Close()
		return fmt.Errorf("writing audit key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("writing audit key: %w", err)
	}
	return f.Close()
}
