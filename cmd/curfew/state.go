package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/sqlite"
)

// The files curfew keeps in its state directory.
const (
	dbFile         = "curfew.db"
	keyFile        = "audit.ed25519"    // ed25519 key that signs the audit log's checkpoints; never in the database
	checkpointFile = "audit.checkpoint" // latest signed checkpoint, to detect a truncated or rewritten log

	// The first release's audit files: an HMAC key and the newest entry.
	// They are read once, to upgrade its database, and not used after.
	legacyKeyFile  = "audit.key"
	legacyHeadFile = "audit.head"
)

// A stateError is a state directory that curfew refuses to run on: its
// files contradict each other (a key without a database, a checkpoint
// without either...) or the database is damaged. Starting afresh there
// would lift every restriction and forget every token, so curfew changes
// nothing, and its message says how to restore the state from a backup.
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
		fmt.Sprintf("copy curfew.db from the latest backup into %s (mode 0600), and %s and %s too if they are missing", e.dir, keyFile, checkpointFile),
		"start curfew and run 'curfew audit verify': it reports the audit events lost since the backup",
	}
	if e.keyOnly {
		steps = []string{
			"stop curfew (systemctl stop curfew)",
			fmt.Sprintf("copy %s from any backup of this gateway into %s (mode 0600; the key never changes)", keyFile, e.dir),
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
	key        int64 // size of audit.ed25519; -1 if missing
	db         int64 // size of curfew.db; -1 if missing
	wal        bool  // curfew.db-wal or curfew.db-shm exists
	checkpoint int64 // the event audit.checkpoint signs; -1 if it is missing, 0 if unreadable
	legacyKey  int64 // size of the first release's audit.key; -1 if missing
	legacyHead int64 // the entry its audit.head records; -1 if it is missing, 0 if unreadable
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
	// firstNumber returns the number a file's content starts with (-1 if
	// the file is missing, 0 if it holds none): for messages only, the
	// store reads and checks the files.
	firstNumber := func(name string, field *regexp.Regexp) (int64, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			return -1, nil
		}
		if err != nil {
			return 0, fmt.Errorf("reading %s: %w", name, err)
		}
		var n int64
		if m := field.FindSubmatch(b); m != nil {
			n, _ = strconv.ParseInt(string(m[1]), 10, 64)
		}
		return n, nil
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
	if s.legacyKey, err = size(legacyKeyFile); err != nil {
		return s, err
	}
	if s.checkpoint, err = firstNumber(checkpointFile, checkpointSeq); err != nil {
		return s, err
	}
	if s.legacyHead, err = firstNumber(legacyHeadFile, headSeq); err != nil {
		return s, err
	}
	return s, nil
}

var (
	checkpointSeq = regexp.MustCompile(`"seq":([0-9]+)`)
	headSeq       = regexp.MustCompile(`^([0-9]+) `)
)

// empty reports whether s holds no curfew state at all. An empty database
// file alone is not state: SQLite makes it a new database.
func (s stateFiles) empty() bool {
	return s.key < 0 && s.db <= 0 && !s.wal && s.checkpoint < 0 && s.legacyKey < 0 && s.legacyHead < 0
}

// keyOnly reports whether s holds an audit key and nothing else: what a
// `curfew init` leaves that stopped before creating the database.
func (s stateFiles) keyOnly() bool {
	return s.key >= 0 && s.db < 0 && !s.wal && s.checkpoint < 0 && s.legacyKey < 0 && s.legacyHead < 0
}

// legacy reports whether s is the state of the first release: a database
// and its HMAC key, no signing key and no checkpoint yet. It is upgraded.
func (s stateFiles) legacy() bool {
	return s.key < 0 && s.checkpoint < 0 && s.legacyKey >= 0 && s.db > 0
}

// problem says how s contradicts itself, or returns "" if it holds a
// database and its key, or a first-release state to upgrade. Empty state
// is not a contradiction.
func (s stateFiles) problem() string {
	var db string
	switch {
	case s.db == 0:
		db = dbFile + " is empty (0 bytes)"
	case s.db < 0 && s.wal:
		db = dbFile + " is missing (its -wal or -shm file is there)"
	case s.db < 0:
		db = dbFile + " is missing"
	}
	var present []string
	if s.key >= 0 {
		present = append(present, keyFile)
	}
	switch {
	case s.checkpoint > 0:
		present = append(present, fmt.Sprintf("%s (which signs audit event %d)", checkpointFile, s.checkpoint))
	case s.checkpoint == 0:
		present = append(present, checkpointFile)
	}
	if s.legacyKey >= 0 {
		present = append(present, legacyKeyFile)
	}
	switch {
	case s.legacyHead > 0:
		present = append(present, fmt.Sprintf("%s (which records audit entry %d)", legacyHeadFile, s.legacyHead))
	case s.legacyHead == 0:
		present = append(present, legacyHeadFile)
	}
	isAre := func(files []string) string {
		if len(files) == 1 {
			return files[0] + " is there"
		}
		return strings.Join(files[:len(files)-1], ", ") + " and " + files[len(files)-1] + " are there"
	}
	switch {
	case s.empty(), s.key >= 0 && db == "", s.legacy():
		return ""
	case s.keyOnly():
		return db + ", but " + keyFile + " is there (if `curfew init` was interrupted, run it again)"
	case db != "":
		return db + ", but " + isAre(present)
	case s.checkpoint >= 0:
		return keyFile + " is missing, but " + dbFile + " and " + checkpointFile + " are there: without its key, the audit log can be neither signed nor continued"
	}
	return keyFile + " is missing, but " + dbFile + " is there: without its key, the audit log can be neither signed nor continued"
}

// openState opens the database in dir and reads the audit key, for the
// daemon and for `curfew init` on an existing state. It creates nothing,
// but for the upgrade of a first-release state (its database is carried
// over, and the signing key is made). It fails with a message naming
// `curfew init` if dir holds no state, and with a *stateError, before
// opening anything, if the state contradicts itself or the database is
// damaged.
func openState(ctx context.Context, dir string, logger *slog.Logger) (*sqlite.DB, ed25519.PrivateKey, error) {
	s, err := readState(dir)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && s.empty()) {
		return nil, nil, fmt.Errorf("state directory %s holds no curfew state: run `curfew init --config FILE` first "+
			"(if this gateway ran curfew before, restore its state from a backup instead: see docs/operation.md)", dir)
	}
	if err != nil {
		return nil, nil, err
	}
	if p := s.problem(); p != "" {
		return nil, nil, &stateError{dir: dir, problem: p, keyOnly: s.key < 0 && s.db > 0}
	}
	if err := secureDir(dir, logger); err != nil {
		return nil, nil, err
	}
	if s.legacy() {
		return upgradeState(ctx, dir, logger)
	}
	key, err := readKey(dir)
	if err != nil {
		return nil, nil, err
	}
	db, err := openDB(ctx, dir, true, logger)
	if err != nil {
		return nil, nil, err
	}
	return db, key, nil
}

// upgradeState opens the database of a first-release state, which carries
// its log into the new one (package sqlite, migration 7), then makes the
// signing key. A crash in between leaves a state that is upgraded again,
// with nothing left to carry over. A database that holds checkpoints
// already is not a first-release one: its key was lost.
func upgradeState(ctx context.Context, dir string, logger *slog.Logger) (*sqlite.DB, ed25519.PrivateKey, error) {
	db, err := openDB(ctx, dir, true, logger)
	if err != nil {
		return nil, nil, err
	}
	c, err := db.NewestCheckpoint(ctx)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	if c != nil {
		db.Close()
		return nil, nil, &stateError{dir: dir, keyOnly: true,
			problem: fmt.Sprintf("%s is missing, but %s holds checkpoints signed with it (up to audit event %d)", keyFile, dbFile, c.Seq)}
	}
	key, err := writeKey(filepath.Join(dir, keyFile))
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	logger.Info("upgraded the state of curfew's first release: its audit log is carried into the signed one",
		"state_dir", dir, "unused", legacyKeyFile+", "+legacyHeadFile)
	return db, key, nil
}

// createState opens the state in dir for `curfew init`, creating the
// directory (0700), the audit key and the database if dir holds no state.
// It carries on after an init that stopped once the key was written. Any
// other existing state is opened as openState does, never replaced.
func createState(ctx context.Context, dir string, logger *slog.Logger) (*sqlite.DB, ed25519.PrivateKey, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("creating state directory: %w", err)
	}
	s, err := readState(dir)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case s.empty():
		if _, err := writeKey(filepath.Join(dir, keyFile)); err != nil {
			return nil, nil, err
		}
	case s.keyOnly():
	default:
		return openState(ctx, dir, logger)
	}
	if err := secureDir(dir, logger); err != nil {
		return nil, nil, err
	}
	key, err := readKey(dir)
	if err != nil {
		return nil, nil, err
	}
	db, err := openDB(ctx, dir, false, logger)
	if err != nil {
		return nil, nil, err
	}
	return db, key, nil
}

// readKey reads the audit key in dir; a damaged one is a *stateError.
func readKey(dir string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(filepath.Join(dir, keyFile))
	if err != nil {
		return nil, fmt.Errorf("reading the audit key: %w", err)
	}
	key, err := audit.ParsePrivateKey(b)
	if err != nil {
		return nil, &stateError{dir: dir, keyOnly: true,
			problem: fmt.Sprintf("%s (%d bytes) is damaged: %v", keyFile, len(b), err)}
	}
	return key, nil
}

// openDB opens the database in dir with its checkpoint file (and the first
// release's audit files, which an upgrade reads); mustExist is passed to
// the store. The store's refusals of a damaged or missing database become
// a *stateError.
func openDB(ctx context.Context, dir string, mustExist bool, logger *slog.Logger) (*sqlite.DB, error) {
	legacyKey, err := os.ReadFile(filepath.Join(dir, legacyKeyFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading the first release's audit key: %w", err)
	}
	db, err := sqlite.Open(ctx, filepath.Join(dir, dbFile), &sqlite.Config{
		CheckpointPath: filepath.Join(dir, checkpointFile),
		LegacyKey:      legacyKey,
		LegacyHeadPath: filepath.Join(dir, legacyHeadFile),
		MustExist:      mustExist,
		Logger:         logger,
	})
	if errors.Is(err, sqlite.ErrCorrupt) || errors.Is(err, sqlite.ErrNoDatabase) {
		return nil, &stateError{dir: dir, problem: err.Error(), err: err}
	}
	if err != nil {
		return nil, fmt.Errorf("opening database: %w", err)
	}
	return db, nil
}

// writeKey creates a new audit key at path, mode 0600, and returns it.
func writeKey(path string) (ed25519.PrivateKey, error) {
	key, err := audit.GenerateKey()
	if err != nil {
		return nil, err
	}
	b, err := audit.MarshalPrivateKey(key)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("creating the audit key: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, fmt.Errorf("writing the audit key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("writing the audit key: %w", err)
	}
	return key, f.Close()
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
