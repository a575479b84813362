package sqlite_test

import (
	"database/sql"
	"fmt"
	"strings"
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

// A database that lacks a migration older than its newest one (made by a
// curfew without it) gets it at the next Open; one that has a version this
// curfew does not know is refused.
func TestMigrationsFillGaps(t *testing.T) {
	f := newFileDB(t)
	db := f.open(t, testKey)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	f.exec(t, "DROP TABLE appeals", "DELETE FROM schema_migrations WHERE name = '0005_appeals.sql'")
	db = f.open(t, testKey)
	if _, err := db.Appeals(t.Context(), curfew.AppealFilter{}); err != nil {
		t.Errorf("Appeals() after reopening = %v, want the appeals table back", err)
	}
	db.Close()

	f.exec(t, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (4000, '4000_future.sql', 0)")
	if db, err := sqlite.Open(t.Context(), f.path, &sqlite.Config{AuditKey: testKey, HeadPath: f.head}); err == nil {
		db.Close()
		t.Error("Open() of a database with an unknown schema version succeeded")
	} else if !strings.Contains(err.Error(), "schema version 4000") {
		t.Errorf("Open() = %v, want it to name schema version 4000", err)
	}
}
