package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
)

// busyTimeout is how long a statement waits for another connection's write
// lock before failing with SQLITE_BUSY.
const busyTimeout = 5 * time.Second

// Config configures Open.
type Config struct {
	// CheckpointPath is a file in which the store keeps the newest signed
	// checkpoint of the audit log, besides the database, so that events
	// dropped from the end of the database are detected (package audit).
	// The daemon keeps it in its state directory. Empty disables that
	// (tests of other packages).
	CheckpointPath string

	// LegacyKey and LegacyHeadPath are the HMAC key and the head file of
	// the first release's audit log. They are needed only to upgrade a
	// database that holds that log: the upgrade verifies it with them,
	// once, and carries it into the new log (see legacy.go).
	LegacyKey      []byte
	LegacyHeadPath string

	// Now returns the time given to audit events whose At is zero.
	// Nil means time.Now.
	Now func() time.Time

	// MustExist makes Open refuse a file that holds no database yet (one
	// that does not exist or is empty) with ErrNoDatabase, instead of
	// creating a new one there. The daemon sets it: a database that
	// disappeared must be restored, not silently replaced by an empty one.
	MustExist bool

	// Logger receives what the store cannot return, such as the
	// tightening of a database file's mode. Nil discards.
	Logger *slog.Logger
}

// DB is a curfew database. It implements the engine's Store. It is safe for
// concurrent use; writes are serialised. One process, the daemon, is the
// single writer of a database file and of its checkpoint file.
type DB struct {
	sql            *sql.DB
	checkpointPath string
	legacyKey      []byte
	legacyHeadPath string
	now            func() time.Time
	logger         *slog.Logger

	cpmu sync.Mutex // serialises checkpoint saves; taken before wmu, never after

	wmu sync.Mutex // serialises write transactions; guards latest
	// latest is the newest checkpoint known, of the file or the database;
	// nil if none. New events name it, and after events lost from the end
	// of the database the log goes on from it.
	latest *audit.Checkpoint
}

// Open opens the database at path, which is a file name or ":memory:",
// creating it unless c.MustExist is set, and applies the migrations it
// lacks. The caller closes the DB.
//
// Open refuses a database that cannot be trusted: one that fails SQLite's
// PRAGMA quick_check (which reads every page, so Open takes longer on a
// larger file) or that is not a database, and one whose audit table is
// empty while the head file records entries. Those errors wrap ErrCorrupt.
// A file Open creates is readable by its owner only, and so are the -wal
// and -shm files SQLite creates beside it, which take its mode; an
// existing one readable by others is made private.
func Open(ctx context.Context, path string, c *Config) (*DB, error) {
	if c == nil {
		c = &Config{}
	}
	if path == "" || strings.ContainsRune(path, '?') || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("%w: database path %q: want a file name, or :memory: for a private database in memory", curfew.ErrInvalid, path)
	}
	memory := path == ":memory:"
	logger := c.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	file, err := readCheckpointFile(c.CheckpointPath)
	if err != nil {
		return nil, fmt.Errorf("opening database %s: %w", path, err)
	}
	if !memory {
		var signed int64
		if file != nil {
			signed = file.Seq
		}
		if err := prepareFile(path, c.MustExist, signed, c.CheckpointPath, logger); err != nil {
			return nil, fmt.Errorf("opening database %s: %w", path, err)
		}
	}

	q := []string{
		"_pragma=busy_timeout(" + strconv.FormatInt(busyTimeout.Milliseconds(), 10) + ")",
		"_pragma=foreign_keys(1)",
		"_pragma=synchronous(FULL)", // the checkpoint file is fsynced; the database must not lag it after a power cut
		"_txlock=immediate",         // a write transaction takes the write lock at BEGIN, never by upgrading
	}
	if !memory {
		q = append(q, "_pragma=journal_mode(WAL)")
	}
	sdb, err := sql.Open("sqlite", path+"?"+strings.Join(q, "&"))
	if err != nil {
		return nil, fmt.Errorf("opening database %s: %w", path, err)
	}
	if memory {
		// Each connection to ":memory:" is a database of its own: keep
		// exactly one, for ever.
		sdb.SetMaxOpenConns(1)
		sdb.SetMaxIdleConns(1)
		sdb.SetConnMaxLifetime(0)
		sdb.SetConnMaxIdleTime(0)
	}
	db := &DB{
		sql:            sdb,
		checkpointPath: c.CheckpointPath,
		legacyKey:      slices.Clone(c.LegacyKey),
		legacyHeadPath: c.LegacyHeadPath,
		now:            c.Now,
		logger:         logger,
	}
	if db.now == nil {
		db.now = time.Now
	}
	if err := db.check(ctx, memory); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("opening database %s: %w", path, corruption(err))
	}
	if err := db.quickCheck(ctx); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("checking database %s: %w", path, corruption(err))
	}
	if err := db.migrate(ctx); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("migrating database %s: %w", path, corruption(err))
	}
	if err := db.loadCheckpoint(ctx, file); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("opening database %s: %w", path, corruption(err))
	}
	return db, nil
}

// Close closes the database.
func (db *DB) Close() error {
	return db.sql.Close()
}

// check makes sure the connection settings took effect.
func (db *DB) check(ctx context.Context, memory bool) error {
	var fk int
	if err := db.sql.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
		return fmt.Errorf("reading foreign_keys: %w", err)
	}
	if fk != 1 {
		return errors.New("foreign keys are off")
	}
	if memory {
		return nil
	}
	var mode string
	if err := db.sql.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("reading journal_mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal mode is %s, not wal", mode)
	}
	return nil
}

//go:embed migration/*.sql
var migrations embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations returns the migrations in fsys by ascending version.
// Their names are NNNN_description.sql; each version is used once, and a
// version may be missing (a number reserved for a change still to come):
// migrate applies every version a database lacks, not only the newer ones.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "migration/*.sql")
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	var ms []migration
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || len(num) != 4 || v < 1 {
			return nil, fmt.Errorf("migration %s: want a name NNNN_description.sql numbered from 0001", base)
		}
		if len(ms) > 0 && ms[len(ms)-1].version == v {
			return nil, fmt.Errorf("migration %s: version %d is also %s", base, v, ms[len(ms)-1].name)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, sql: string(b)})
	}
	return ms, nil
}

// migrate applies, in order, each migration the database lacks, each in
// its own transaction. Two processes opening one new file at once are
// safe: the transactions take the write lock first, then re-check.
func (db *DB) migrate(ctx context.Context) error {
	ms, err := loadMigrations(migrations)
	if err != nil {
		return err
	}
	if _, err := db.sql.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at INTEGER NOT NULL
	) STRICT`); err != nil {
		return fmt.Errorf("creating schema_migrations: %w", err)
	}
	have, err := db.appliedVersions(ctx)
	if err != nil {
		return err
	}
	todo, err := missing(ms, have)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(todo, func(m migration) bool { return m.version == legacyMigration }) && len(db.legacyKey) == 0 {
		// Refuse before any migration, so that the database stays as it
		// was until it is opened with the old log's key.
		var n int
		if err := db.sql.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'audit'").Scan(&n); err != nil {
			return fmt.Errorf("looking for the first release's audit log: %w", err)
		}
		if n > 0 {
			if err := db.sql.QueryRowContext(ctx, "SELECT count(*) FROM audit").Scan(&n); err != nil {
				return fmt.Errorf("reading the first release's audit log: %w", err)
			}
		}
		if n > 0 {
			return fmt.Errorf("%w: the database holds the audit log of curfew's first release (%d entries): its key (audit.key) is needed to carry it over",
				curfew.ErrInvalid, n)
		}
	}
	for _, m := range todo {
		if err := db.apply(ctx, m); err != nil {
			return fmt.Errorf("applying %s: %w", m.name, err)
		}
	}
	return nil
}

// appliedVersions returns the versions recorded in schema_migrations.
func (db *DB) appliedVersions(ctx context.Context) ([]int, error) {
	rows, err := db.sql.QueryContext(ctx, "SELECT version FROM schema_migrations ORDER BY version")
	if err != nil {
		return nil, fmt.Errorf("reading schema versions: %w", err)
	}
	defer rows.Close()
	var vs []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("reading schema versions: %w", err)
		}
		vs = append(vs, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading schema versions: %w", err)
	}
	return vs, nil
}

// missing returns the migrations of ms, in order, whose versions are not
// in have, or an error if have holds a version ms does not know: a
// database written by a newer curfew.
func missing(ms []migration, have []int) ([]migration, error) {
	known := map[int]bool{}
	for _, m := range ms {
		known[m.version] = true
	}
	applied := map[int]bool{}
	for _, v := range have {
		if !known[v] {
			return nil, fmt.Errorf("schema version %d is unknown to this curfew, which knows up to %d: the database is from a newer curfew", v, ms[len(ms)-1].version)
		}
		applied[v] = true
	}
	var todo []migration
	for _, m := range ms {
		if !applied[m.version] {
			todo = append(todo, m)
		}
	}
	return todo, nil
}

func (db *DB) apply(ctx context.Context, m migration) error {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations WHERE version = ?", m.version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil // another process applied it meanwhile
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return err
	}
	if m.version == legacyMigration {
		if err := db.upgradeLegacy(ctx, tx); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
		m.version, m.name, time.Now().UnixMilli()); err != nil {
		return err
	}
	return tx.Commit()
}

// write runs change and records evs after it, in one transaction. change
// (which may be nil) gets copies of the events and may fill them in, as
// CreateRestriction sets the new restriction's ID. If ctx carries a
// request key (curfew.WithRequestKey), a change (change not nil) records
// it in the same transaction with the first event's actor, kind and
// target. Only when the transaction commits is each event updated, with
// its Seq, Prev and At.
func (db *DB) write(ctx context.Context, evs []*audit.Event, change func(tx *sql.Tx, evs []*audit.Event) error) error {
	if len(evs) == 0 || slices.Contains(evs, nil) {
		return fmt.Errorf("%w: missing audit event", curfew.ErrInvalid)
	}
	copies := make([]*audit.Event, len(evs))
	for i, e := range evs {
		c := *e
		copies[i] = &c
	}
	db.wmu.Lock()
	defer db.wmu.Unlock()

	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	defer tx.Rollback()
	if change != nil {
		if err := change(tx, copies); err != nil {
			return err
		}
	}
	if err := db.appendEvents(ctx, tx, copies); err != nil {
		return err
	}
	if change != nil {
		if err := recordRequestKey(ctx, tx, copies[0]); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	for i, e := range evs {
		*e = *copies[i]
	}
	return nil
}

// classify attaches a curfew error kind to a constraint violation.
func classify(err error, what string) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %s already exists", curfew.ErrConflict, what)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%w: %s refers to something that does not exist", curfew.ErrNotFound, what)
		case sqlite3.SQLITE_CONSTRAINT_CHECK:
			return fmt.Errorf("%w: %s: a value the database refuses: %v", curfew.ErrInvalid, what, err)
		}
	}
	return fmt.Errorf("storing %s: %w", what, err)
}

// subjectText returns the written form of s, as it is stored, or an error
// wrapping curfew.ErrInvalid if s would not read back as itself: a subject
// that does not parse (which would break every listing that reaches its
// row) or one not in its canonical form (an ip: prefix with host bits set,
// which would read back as another prefix). what names the field.
func subjectText(what string, s curfew.Subject) (string, error) {
	text := s.String()
	back, err := curfew.ParseSubject(text)
	if err != nil {
		return "", fmt.Errorf("%w: %s cannot be stored: %v", curfew.ErrInvalid, what, err)
	}
	if back.String() != text || back.Prefix != s.Prefix {
		return "", fmt.Errorf("%w: %s %s is not in its canonical form %s", curfew.ErrInvalid, what, s.Prefix, back)
	}
	return text, nil
}

// checkRole refuses a role the store could not read back.
func checkRole(what string, r curfew.Role) error {
	if _, err := curfew.ParseRole(string(r)); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// Timestamps are stored as UTC Unix milliseconds; optional ones are NULL
// when zero.

func millis(t time.Time) int64 { return t.UnixMilli() }

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func nullMillis(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: true}
}

func fromNullMillis(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return fromMillis(n.Int64)
}
