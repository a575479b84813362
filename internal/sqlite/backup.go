package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
)

// Backup writes a consistent copy of the database file at path to dst,
// which must not exist, while other connections (a running daemon) keep
// reading and writing it: SQLite's VACUUM INTO copies one read
// transaction's view of the database, WAL included. It neither migrates
// nor changes the database. dst is created readable by its owner only.
func Backup(ctx context.Context, path, dst string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("backing up database: %w", err)
	}
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("backing up database: %s already exists", dst)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("backing up database: %w", err)
	}
	q := "?_pragma=busy_timeout(" + strconv.FormatInt(busyTimeout.Milliseconds(), 10) + ")"
	sdb, err := sql.Open("sqlite", path+q)
	if err != nil {
		return fmt.Errorf("backing up database %s: %w", path, err)
	}
	defer sdb.Close()
	// The copy takes the mode of a file that exists: create it private
	// and empty first. VACUUM INTO accepts an empty file.
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("backing up database: %w", err)
	}
	f.Close()
	if _, err := sdb.ExecContext(ctx, "VACUUM INTO ?", dst); err != nil {
		os.Remove(dst)
		return fmt.Errorf("backing up database %s: %w", path, err)
	}
	return nil
}
