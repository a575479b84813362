package sqlite_test

import (
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/sqlite"
)

func TestMigrationsAppliedOnce(t *testing.T) {
	f := newFileDB(t)
	for i := range 3 {
		db := f.open(t, testKey)
		addPerson(t, db, fmt.Sprintf("p%d", i))
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := sql.Open("sqlite", f.path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var n, distinct int
	if err := raw.QueryRow("SELECT count(*), count(DISTINCT version) FROM schema_migrations").Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if n == 0 || n != distinct {
		t.Errorf("schema_migrations has %d rows for %d versions, want each version once", n, distinct)
	}
	var mode string
	if err := raw.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}

	db := f.open(t, testKey)
	ps, err := db.Persons(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 3 {
		t.Errorf("Persons() after reopening = %d persons, want 3", len(ps))
	}
	if rep := verify(t, db); !rep.OK || rep.Entries != 3 {
		t.Errorf("VerifyAudit() after reopening = %+v, want OK with 3 entries", rep)
	}
}

// The daemon writes while another handle on the same file (curfew init,
// a second process) reads.
func TestWriterAndReaderOnOneFile(t *testing.T) {
	ctx := t.Context()
	f := newFileDB(t)
	writer := f.open(t, testKey)
	reader := f.open(t, testKey)
	const n = 50

	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() {
		defer close(done)
		for i := range n {
			r := &curfew.Restriction{
				Subject: mustSubject(t, fmt.Sprintf("person:p%d", i)), Mode: curfew.ModeCutoff,
				Reason: "r", Author: "alice", Start: t0, End: t0.Add(time.Hour), Created: t0,
			}
			if err := writer.CreateRestriction(ctx, r, entry(curfew.ActionRestrict, "")); err != nil {
				t.Errorf("CreateRestriction() = %v", err)
				return
			}
		}
	})
	wg.Go(func() {
		last := 0
		for {
			select {
			case <-done:
				return
			default:
			}
			rs, err := reader.Restrictions(ctx, curfew.RestrictionFilter{})
			if err != nil {
				t.Errorf("Restrictions() = %v", err)
				return
			}
			if len(rs) < last {
				t.Errorf("reader saw %d restrictions after %d", len(rs), last)
			}
			last = len(rs)
			if _, err := reader.Audit(ctx); err != nil {
				t.Errorf("Audit() = %v", err)
				return
			}
		}
	})
	wg.Wait()

	rs, err := reader.Restrictions(ctx, curfew.RestrictionFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != n {
		t.Errorf("reader sees %d restrictions, want %d", len(rs), n)
	}
	if rep := verify(t, reader); !rep.OK || rep.Entries != n {
		t.Errorf("VerifyAudit() from the reader = %+v, want OK with %d entries", rep, n)
	}
}

// Concurrent writes through one handle are serialised and chain in order.
func TestConcurrentWrites(t *testing.T) {
	db := openMemory(t)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			name := fmt.Sprintf("p%d", i)
			if err := db.CreatePerson(t.Context(), &curfew.Person{Name: name}, entry(curfew.ActionPerson, name)); err != nil {
				t.Errorf("CreatePerson(%q) = %v", name, err)
			}
		})
	}
	wg.Wait()
	if rep := verify(t, db); !rep.OK || rep.Entries != 20 {
		t.Errorf("VerifyAudit() = %+v, want OK with 20 entries", rep)
	}
}

// A database that has a migration this curfew does not know is refused,
// not used half understood.
func TestUnknownMigrationRefused(t *testing.T) {
	f := newFileDB(t)
	db := f.open(t, testKey)
	db.Close()
	f.exec(t, "INSERT INTO schema_migrations VALUES (9999, '9999_future.sql', 0)")
	if db, err := sqlite.Open(t.Context(), f.path, &sqlite.Config{AuditKey: testKey, HeadPath: f.head}); err == nil {
		db.Close()
		t.Fatal("Open() of a database with an unknown migration succeeded")
	}
}
