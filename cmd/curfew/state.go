package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/curfew/curfew/internal/sqlite"
)

// The files curfew keeps in its state directory.
const (
	dbFile   = "curfew.db"
	keyFile  = "audit.key"  // HMAC key of the audit chain; never in the database
	headFile = "audit.head" // newest audit entry, to detect a truncated log
)

// A stateError is a state directory that curfew refuses to run on: its
// files contradict each other (a key without a database, a head without
// either...) or the database is damaged. Starting afresh there would lift
// every restriction and forget every token, so curfew changes nothing, and
// its message says how to restore the state from a backup.
type stateError struct {
	dir     string
	problem string // what is wrong, naming the files
	keyOnly bool   // only the audit key is lost: the database is sound
	err     error  // what the store found wrong, if anything
}

func (e *stateError) Error() string {
	steps := []string{
		"stop curfew (systemctl stop curfew)",
		fmt.Sprintf("delete curfew.db-wal and curfew.db-shm in %s, if they are there: they belong to the lost database", e.dir),
		fmt.Sprintf("copy curfew.db from the latest backup into %s (mode 0600), and audit.key and audit.head too if they are missing", e.dir),
		"start curfew and run 'curfew audit verify': it reports the audit entries lost since the backup",
	}
	if e.keyOnly {
		steps = []string{
			"stop curfew (systemctl stop curfew)",
			fmt.Sprintf("copy audit.key from any backup of this gateway into %s (mode 0600; the key never changes)", e.dir),
			"start curfew and run 'curfew audit verify'",
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "refusing to use the state directory %s: %s.\n", e.dir, e.problem)
	b.WriteString("curfew changed nothing: starting afresh would lift every restriction and forget every token.\n")
	b.WriteString("The firewall table stays as it was: the restrictions in force stay in force and still end on time.\n")
	b.WriteString("To restore from a backup:\n")
	for i, s := range steps {
		end := ";"
		if i == len(steps)-1 {
			end = "."
		}
		fmt.Fprintf(&b, "  %d. %s%s\n", i+1, s, end)
	}
	b.WriteString(`See "Restoring from a backup" in docs/operation.md.`)
	return b.String()
}

func (e *stateError) Unwrap() error { return e.err }

// stateFiles is what a state directory holds.
type stateFiles struct {
	key  int64 // size of audit.key; -1 if missing
	db   int64 // size of curfew.db; -1 if missing
	wal  bool  // curfew.db-wal or curfew.db-shm exists
	head int64 // the entry audit.head records; -1 if it is missing, 0 if unreadable
}

// readState looks at the state files in dir, which must exist.
func readState(dir string) (stateFiles, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return stateFiles{}, fmt.Errorf("reading state directory: %w", err)
	}
	if !fi.IsDir() {
		return stateFiles{}, fmt.Errorf("state directory %s is not a directory", dir)
	}
	size := func(name string) (int64, error) {
		fi, err := os.Stat(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			return -1, nil
		}
		if err != nil {
			return 0, fmt.Errorf("reading state directory: %w", err)
		}
		return fi.Size(), nil
	}
	var s stateFiles
	if s.key, err = size(keyFile); err != nil {
		return s, err
	}
	if s.db, err = size(dbFile); err != nil {
		return s, err
	}
	for _, name := range []string{dbFile + "-wal", dbFile + "-shm"} {
		n, err := size(name)
		if err != nil {
			return s, err
		}
		s.wal = s.wal || n >= 0
	}
	s.head = -1
	if b, err := os.ReadFile(filepath.Join(dir, headFile)); err == nil {
		// The store reads and checks the file; this is for messages.
		s.head = 0
		if f := strings.Fields(string(b)); len(f) > 0 {
			s.head, _ = strconv.ParseInt(f[0], 10, 64)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return s, fmt.Errorf("reading audit head: %w", err)
	}
	return s, nil
}

// empty reports whether s holds no curfew state at all. An empty database
// file alone is not state: SQLite makes it a new database.
func (s stateFiles) empty() bool { return s.key < 0 && s.db <= 0 && !s.wal && s.head < 0 }

// keyOnly reports whether s holds an audit key and nothing else: what a
// `curfew init` leaves that stopped before creating the database.
func (s stateFiles) keyOnly() bool { return s.key >= 0 && s.db < 0 && !s.wal && s.head < 0 }

// problem says how s contradicts itself, or returns "" if it holds a
// database and its key. Empty state is not a contradiction.
func (s stateFiles) problem() string {
	var head string
	switch {
	case s.head > 0:
		head = fmt.Sprintf("%s (which records audit entry %d)", headFile, s.head)
	case s.head == 0:
		head = headFile
	}
	var db string
	switch {
	case s.db == 0:
		db = dbFile + " is empty (0 bytes)"
	case s.db < 0 && s.wal:
		db = dbFile + " is missing (its -wal or -shm file is there)"
	case s.db < 0:
		db = dbFile + " is missing"
	}
	switch {
	case s.empty():
		return ""
	case s.key >= 0 && db == "":
		return ""
	case s.keyOnly():
		return db + ", but " + keyFile + " is there (if `curfew init` was interrupted, run it again)"
	case s.key >= 0 && head != "":
		return db + ", but " + keyFile + " and " + head + " are there"
	case s.key >= 0:
		return db + ", but " + keyFile + " is there"
	case db == "":
		return keyFile + " is missing, but " + dbFile + " is there: without its key, the audit log can be neither verified nor continued"
	case head != "":
		return head + " is there, but " + keyFile + " is missing and " + db
	}
	return keyFile + " is missing and " + db
}

// openState opens the database in dir with its audit key, for the daemon
// and for `curfew init` on an existing state. It creates nothing: it fails
// with a message naming `curfew init` if dir holds no state, and with a
// *stateError, before opening anything, if the state contradicts itself or
// the database is damaged.
func openState(ctx context.Context, dir string, logger *slog.Logger) (*sqlite.DB, error) {
	s, err := readState(dir)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && s.empty()) {
		return nil, fmt.Errorf("state directory %s holds no curfew state: run `curfew init --config FILE` first "+
			"(if this gateway ran curfew before, restore its state from a backup instead: see docs/operation.md)", dir)
	}
	if err != nil {
		return nil, err
	}
	if p := s.problem(); p != "" {
		return nil, &stateError{dir: dir, problem: p, keyOnly: s.key < 0 && s.db > 0}
	}
	if err := secureDir(dir, logger); err != nil {
		return nil, err
	}
	return openDB(ctx, dir, true, logger)
}

// createState opens the state in dir for `curfew init`, creating the
// directory (0700), the audit key and the database if dir holds no state.
// It carries on after an init that stopped once the key was written. Any
// other existing state is opened as openState does, never replaced.
func createState(ctx context.Context, dir string, logger *slog.Logger) (*sqlite.DB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating state directory: %w", err)
	}
	s, err := readState(dir)
	if err != nil {
		return nil, err
	}
	switch {
	case s.empty():
		if err := writeKey(filepath.Join(dir, keyFile)); err != nil {
			return nil, err
		}
	case s.keyOnly():
	default:
		return openState(ctx, dir, logger)
	}
	if err := secureDir(dir, logger); err != nil {
		return nil, err
	}
	return openDB(ctx, dir, false, logger)
}

// openDB opens the database in dir with its key; mustExist is passed to
// the store. The store's refusals of a damaged or missing database become
// a *stateError.
func openDB(ctx context.Context, dir string, mustExist bool, logger *slog.Logger) (*sqlite.DB, error) {
	key, err := os.ReadFile(filepath.Join(dir, keyFile))
	if err != nil {
		return nil, fmt.Errorf("reading audit key: %w", err)
	}
	if len(key) < sqlite.MinKeySize {
		return nil, &stateError{dir: dir, keyOnly: true,
			problem: fmt.Sprintf("%s is %d bytes long, not at least %d: it is damaged", keyFile, len(key), sqlite.MinKeySize)}
	}
	db, err := sqlite.Open(ctx, filepath.Join(dir, dbFile), &sqlite.Config{
		AuditKey:  key,
		HeadPath:  filepath.Join(dir, headFile),
		MustExist: mustExist,
		Logger:    logger,
	})
	if errors.Is(err, sqlite.ErrCorrupt) || errors.Is(err, sqlite.ErrNoDatabase) {
		return nil, &stateError{dir: dir, problem: err.Error(), err: err}
	}
	if err != nil {
		return nil, fmt.Errorf("opening database: %w", err)
	}
	return db, nil
}

// writeKey creates a new audit key at path, mode 0600.
func writeKey(path string) error {
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

// secureDir makes the state directory dir accessible to its owner only if
// this process owns it, and warns if it stays open to others: it holds the
// audit key and the database.
func secureDir(dir string, logger *slog.Logger) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("reading state directory: %w", err)
	}
	mode := fi.Mode().Perm()
	if mode&0o077 == 0 {
		return nil
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) == os.Geteuid() {
		if err := os.Chmod(dir, mode&0o700); err != nil {
			return fmt.Errorf("making state directory private: %w", err)
		}
		logger.Warn("made the state directory private", "state_dir", dir,
			"old_mode", fmt.Sprintf("%#o", mode), "mode", fmt.Sprintf("%#o", mode&0o700))
		return nil
	}
	logger.Warn("state directory is open to other users: make it mode 0700", "state_dir", dir, "mode", fmt.Sprintf("%#o", mode))
	return nil
}
