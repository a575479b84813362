package sqlite

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

var (
	// ErrNoDatabase marks a database file that is missing or empty where
	// a database is required: Config.MustExist is set, or the checkpoint
	// file signs events that must be in it.
	ErrNoDatabase = errors.New("no database")

	// ErrCorrupt marks a database that cannot be trusted: SQLite finds it
	// damaged or not a database at all, or its audit log is empty while
	// the checkpoint file signs events (a new or emptied database in place
	// of the one the checkpoint belongs to). It must be restored from a backup,
	// not used.
	ErrCorrupt = errors.New("corrupt")
)

// quickCheckLimit is how many problems quickCheck reports at most.
const quickCheckLimit = 5

// prepareFile makes path ready for SQLite to open. A missing file is an
// error if mustExist is set or signed, the event the checkpoint file at
// cpPath signs, is above zero; otherwise it is
// created empty with mode 0600 (SQLite creates -wal and -shm with the mode
// of the database file, so they are private too). An empty file counts as
// missing when a database is required. An existing file, and its -wal and
// -shm, readable or writable by others are made private.
func prepareFile(path string, mustExist bool, signed int64, cpPath string, logger *slog.Logger) error {
	fi, err := os.Stat(path)
	missing := errors.Is(err, fs.ErrNotExist)
	if err != nil && !missing {
		return fmt.Errorf("reading database file: %w", err)
	}
	what := "the file does not exist"
	if !missing {
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("%s is not a regular file", path)
		}
		if fi.Size() > 0 {
			return tightenModes(path, logger)
		}
		what = "the file is empty (0 bytes)"
	}
	switch {
	case signed > 0:
		return fmt.Errorf("%w: %s, but the checkpoint file %s signs audit event %d", ErrNoDatabase, what, cpPath, signed)
	case mustExist:
		return fmt.Errorf("%w: %s", ErrNoDatabase, what)
	case !missing:
		return tightenModes(path, logger) // SQLite makes an empty file a new database
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil // another process created it meanwhile
	}
	if err != nil {
		return fmt.Errorf("creating database file: %w", err)
	}
	return f.Close()
}

// tightenModes removes the group and other permission bits of the
// database file at path and of its -wal and -shm files, where set.
func tightenModes(path string, logger *slog.Logger) error {
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("reading database file: %w", err)
		}
		mode := fi.Mode().Perm()
		if mode&0o077 == 0 {
			continue
		}
		if err := os.Chmod(p, mode&0o700); err != nil {
			return fmt.Errorf("making database file private: %w", err)
		}
		logger.Warn("made a database file private", "path", p, "old_mode", fmt.Sprintf("%#o", mode), "mode", fmt.Sprintf("%#o", mode&0o700))
	}
	return nil
}

// quickCheck runs SQLite's PRAGMA quick_check, which checks the structure
// of every page of the database but not that indexes match their tables.
func (db *DB) quickCheck(ctx context.Context) error {
	rows, err := db.sql.QueryContext(ctx, fmt.Sprintf("PRAGMA quick_check(%d)", quickCheckLimit))
	if err != nil {
		return fmt.Errorf("running quick_check: %w", err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return fmt.Errorf("running quick_check: %w", err)
		}
		s = strings.TrimPrefix(s, "*** in database main ***\n")
		problems = append(problems, strings.ReplaceAll(s, "\n", "; "))
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("running quick_check: %w", err)
	}
	if len(problems) == 1 && problems[0] == "ok" {
		return nil
	}
	return fmt.Errorf("%w: PRAGMA quick_check reports: %s", ErrCorrupt, strings.Join(problems, "; "))
}

// corruption marks err with ErrCorrupt if SQLite reported the file
// damaged or not a database.
func corruption(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) && !errors.Is(err, ErrCorrupt) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
			return fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
	}
	return err
}
