package sqlite_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/curfew/curfew/internal/sqlite"
)

// closedDB returns a database file holding n audited changes, closed, so
// that everything is in the main file and its head file records entry n.
func closedDB(t *testing.T, n int) fileDB {
	t.Helper()
	f := newFileDB(t)
	db := f.open(t, testKey)
	writeEntries(t, db, "person-with-a-long-name-", n)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(f.path + "-wal"); err == nil && fi.Size() > 0 {
		t.Fatalf("%s-wal holds %d bytes after Close, want it checkpointed", f.path, fi.Size())
	}
	return f
}

// wantOpenError opens f with c (AuditKey is filled in) and checks the
// error wraps kind and mentions each of want.
func wantOpenError(t *testing.T, f fileDB, c sqlite.Config, kind error, want ...string) {
	t.Helper()
	c.AuditKey = testKey
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
			// Without MustExist, a head file recording entries still
			// says a database belongs here.
			wantOpenError(t, f, sqlite.Config{HeadPath: f.head}, sqlite.ErrNoDatabase, f.path, tt.what, f.head, "records entry 3")

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
	db := f.open(t, testKey)
	writeEntries(t, db, "p", 1)
	if rep := verify(t, db); !rep.OK || rep.Entries != 1 {
		t.Errorf("VerifyAudit() of a new database = %+v, want OK with 1 entry", rep)
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
	wantOpenError(t, f, sqlite.Config{HeadPath: f.head, MustExist: true}, sqlite.ErrCorrupt, f.path, "quick_check")
}

func TestOpenRefusesFileThatIsNoDatabase(t *testing.T) {
	f := newFileDB(t)
	if err := os.WriteFile(f.path, []byte(strings.Repeat("not a database\n", 500)), 0o600); err != nil {
		t.Fatal(err)
	}
	wantOpenError(t, f, sqlite.Config{MustExist: true}, sqlite.ErrCorrupt, f.path, "not a database")
}

// A head file recording entries beside a database with none is a new or
// emptied database in place of the real one.
func TestOpenRefusesHeadWithoutAudit(t *testing.T) {
	tests := []struct {
		name    string
		replace func(t *testing.T, f fileDB)
	}{
		{"audit table emptied", func(t *testing.T, f fileDB) {
			f.exec(t, dropGuards, "DELETE FROM audit")
		}},
		{"database replaced by a new one", func(t *testing.T, f fileDB) {
			for _, p := range []string{f.path, f.path + "-wal", f.path + "-shm"} {
				if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
					t.Fatal(err)
				}
			}
			db, err := sqlite.Open(t.Context(), f.path, &sqlite.Config{AuditKey: testKey})
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
			wantOpenError(t, f, sqlite.Config{HeadPath: f.head, MustExist: true}, sqlite.ErrCorrupt, f.path, f.head, "records entry 3", "audit log is empty")
		})
	}
}

// Entries missing from the end only (a database restored from an older
// backup beside a newer head file) still open: VerifyAudit reports the gap.
func TestOpenAcceptsTruncatedAudit(t *testing.T) {
	f := closedDB(t, 5)
	f.exec(t, dropGuards, "DELETE FROM audit WHERE seq > 2")
	db := f.open(t, testKey)
	wantBroken(t, verify(t, db), 3, "truncated")
}
