package sqlite_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/sqlite"
)

// closedDB returns a database file holding n audited changes, closed, so
// that everything is in the main file and its checkpoint file signs
// event n.
func closedDB(t *testing.T, n int) fileDB {
	t.Helper()
	f := newFileDB(t)
	db := f.open(t)
	writeEntries(t, db, "person-with-a-long-name-", n)
	sign(t, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(f.path + "-wal"); err == nil && fi.Size() > 0 {
		t.Fatalf("%s-wal holds %d bytes after Close, want it checkpointed", f.path, fi.Size())
	}
	return f
}

// wantOpenError opens f with c and checks the error wraps kind and
// mentions each of want.
func wantOpenError(t *testing.T, f fileDB, c sqlite.Config, kind error, want ...string) {
	t.Helper()
	db, err := sqlite.Open(t.Context(), f.path, &c)
	if err == nil {
		db.Close()
		t.Fatalf("Open(%s) succeeded, want an error wrapping %v", f.path, kind)
	}
	if !errors.Is(err, kind) {
		t.Errorf("Open(%s) = %v, want it to wrap %v", f.path, err, kind)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Open(%s) = %q, want it to mention %q", f.path, err, w)
		}
	}
}

func TestOpenRefusesMissingDatabase(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, path string)
		what   string
	}{
		{"deleted", func(t *testing.T, path string) {
			for _, p := range []string{path, path + "-wal", path + "-shm"} {
				if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
					t.Fatal(err)
				}
			}
		}, "does not exist"},
		{"truncated to 0 bytes", func(t *testing.T, path string) {
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
		}, "is empty (0 bytes)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := closedDB(t, 3)
			tt.damage(t, f.path)
			before, beforeErr := os.Stat(f.path)

			// The daemon's case: a database is required.
			wantOpenError(t, f, sqlite.Config{MustExist: true}, sqlite.ErrNoDatabase, f.path, tt.what)
			// Without MustExist, a checkpoint file signing events still
			// says a database belongs here.
			wantOpenError(t, f, sqlite.Config{CheckpointPath: f.checkpoint}, sqlite.ErrNoDatabase, f.path, tt.what, f.checkpoint, "signs audit event 3")

			after, afterErr := os.Stat(f.path)
			switch {
			case beforeErr != nil && afterErr == nil:
				t.Errorf("Open created %s, want it left missing", f.path)
			case beforeErr == nil && (afterErr != nil || after.Size() != before.Size()):
				t.Errorf("after Open, %s: %v, %v; want it left empty", f.path, after, afterErr)
			}
		})
	}
}

// A new file is still created where nothing says a database should be.
func TestOpenCreatesNewDatabase(t *testing.T) {
	f := newFileDB(t)
	db := f.open(t)
	writeEntries(t, db, "p", 1)
	if rep := verify(t, db); !rep.OK() || rep.Events != 1 {
		t.Errorf("verify() of a new database = %+v, want OK with 1 event", rep)
	}
}

// A database with a damaged page opens, and answers some queries, without
// a check; Open must refuse it with SQLite's diagnosis.
func TestOpenRefusesCorruptPage(t *testing.T) {
	f := closedDB(t, 60)
	b, err := os.ReadFile(f.path)
	if err != nil {
		t.Fatal(err)
	}
	const pageSize = 4096 // SQLite's default
	if len(b) < 8*pageSize {
		t.Fatalf("database has %d bytes, want at least 8 pages", len(b))
	}
	// Overwrite a cell in the middle of a table leaf page (type 13) in
	// the second half of the file, as a bad sector or a stray write would.
	page := -1
	for p := len(b)/pageSize/2 - 1; p < len(b)/pageSize; p++ {
		h := b[p*pageSize:]
		// Not a page of the schema table: that makes every statement
		// fail, before quick_check can say what is wrong.
		if h[0] == 13 && int(h[3])<<8|int(h[4]) >= 4 && !bytes.Contains(h[:pageSize], []byte("CREATE ")) {
			page = p
			break
		}
	}
	if page < 0 {
		t.Fatal("no table leaf page with four cells in the second half of the database")
	}
	h := b[page*pageSize:]
	cells := int(h[3])<<8 | int(h[4])
	mid := cells / 2
	off := page*pageSize + (int(h[8+2*mid])<<8 | int(h[8+2*mid+1]))
	for i := range 16 {
		b[off+i] = 0xff
	}
	if err := os.WriteFile(f.path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	wantOpenError(t, f, sqlite.Config{CheckpointPath: f.checkpoint, MustExist: true}, sqlite.ErrCorrupt, f.path, "quick_check")
}

func TestOpenRefusesFileThatIsNoDatabase(t *testing.T) {
	f := newFileDB(t)
	if err := os.WriteFile(f.path, []byte(strings.Repeat("not a database\n", 500)), 0o600); err != nil {
		t.Fatal(err)
	}
	wantOpenError(t, f, sqlite.Config{MustExist: true}, sqlite.ErrCorrupt, f.path, "not a database")
}

// A checkpoint file signing events beside a database with none is a new
// or emptied database in place of the real one.
func TestOpenRefusesCheckpointWithoutAudit(t *testing.T) {
	tests := []struct {
		name    string
		replace func(t *testing.T, f fileDB)
	}{
		{"audit table emptied", func(t *testing.T, f fileDB) {
			f.exec(t, dropGuards, "DELETE FROM audit_events")
		}},
		{"database replaced by a new one", func(t *testing.T, f fileDB) {
			for _, p := range []string{f.path, f.path + "-wal", f.path + "-shm"} {
				if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
					t.Fatal(err)
				}
			}
			db, err := sqlite.Open(t.Context(), f.path, &sqlite.Config{})
			if err != nil {
				t.Fatal(err)
			}
			db.Close()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := closedDB(t, 3)
			tt.replace(t, f)
			wantOpenError(t, f, sqlite.Config{CheckpointPath: f.checkpoint, MustExist: true}, sqlite.ErrCorrupt, f.path, f.checkpoint, "signs event 3", "audit log is empty")
		})
	}
}

// Events missing from the end only (a database restored from an older
// backup beside a newer checkpoint file) still open: verification reports
// the loss.
func TestOpenAcceptsTruncatedAudit(t *testing.T) {
	f := closedDB(t, 5)
	f.exec(t, dropGuards, "DELETE FROM audit_events WHERE seq > 2")
	db := f.open(t)
	rep := verify(t, db)
	if rep.OK() || rep.Problems[0].Kind != audit.ProblemTruncated || rep.Problems[0].Seq != 5 {
		t.Errorf("verify() = %q, want the log truncated after event 2 of 5", problems(rep))
	}
}

// A checkpoint file that is not a checkpoint is refused, not ignored.
func TestOpenRefusesMalformedCheckpointFile(t *testing.T) {
	f := closedDB(t, 1)
	if err := os.WriteFile(f.checkpoint, []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if db, err := sqlite.Open(t.Context(), f.path, &sqlite.Config{CheckpointPath: f.checkpoint}); err == nil {
		db.Close()
		t.Error("Open() with a malformed checkpoint file succeeded")
	}
}
