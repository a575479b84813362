package sqlite_test

import (
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/sqlite"
)

func TestMigrationsAppliedOnce(t *testing.T) {
	f := newFileDB(t)
	for i := range 3 {
		db := f.open(t)
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

	db := f.open(t)
	ps, err := db.Persons(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 3 {
		t.Errorf("Persons() after reopening = %d persons, want 3", len(ps))
	}
	if rep := verify(t, db); !rep.OK() || rep.Events != 3 {
		t.Errorf("verify() after reopening = %+v, want OK with 3 events", rep)
	}
}

// The daemon writes while another handle on the same file (curfew init,
// a second process) reads.
func TestWriterAndReaderOnOneFile(t *testing.T) {
	ctx := t.Context()
	f := newFileDB(t)
	writer := f.open(t)
	reader := f.open(t)
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
			if err := writer.CreateRestriction(ctx, r, entry(audit.KindRestrictionCreated, r.Subject.String())); err != nil {
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
			if err := reader.ReadAudit(ctx, 1, func(int64, []byte, bool) error { return nil }, nil); err != nil {
				t.Errorf("ReadAudit() = %v", err)
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
	if rep := verify(t, reader); !rep.OK() || rep.Events != n {
		t.Errorf("verify() from the reader = %+v, want OK with %d events", rep, n)
	}
}

// Concurrent writes through one handle are serialised and chain in order.
func TestConcurrentWrites(t *testing.T) {
	db := openMemory(t)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			name := fmt.Sprintf("p%d", i)
			if err := db.CreatePerson(t.Context(), &curfew.Person{Name: name}, entry(audit.KindPersonAdded, "person:"+name)); err != nil {
				t.Errorf("CreatePerson(%q) = %v", name, err)
			}
		})
	}
	wg.Wait()
	if rep := verify(t, db); !rep.OK() || rep.Events != 20 {
		t.Errorf("verify() = %+v, want OK with 20 events", rep)
	}
}

// A database that lacks a migration older than its newest one (made by a
// curfew without it) gets it at the next Open; one that has a version this
// curfew does not know is refused.
func TestMigrationsFillGaps(t *testing.T) {
	f := newFileDB(t)
	db := f.open(t)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	f.exec(t, "DROP TABLE appeals", "DELETE FROM schema_migrations WHERE name = '0005_appeals.sql'")
	db = f.open(t)
	if _, err := db.Appeals(t.Context(), curfew.AppealFilter{}); err != nil {
		t.Errorf("Appeals() after reopening = %v, want the appeals table back", err)
	}
	db.Close()

	f.exec(t, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (4000, '4000_future.sql', 0)")
	if db, err := sqlite.Open(t.Context(), f.path, &sqlite.Config{CheckpointPath: f.checkpoint}); err == nil {
		db.Close()
		t.Error("Open() of a database with an unknown schema version succeeded")
	} else if !strings.Contains(err.Error(), "schema version 4000") {
		t.Errorf("Open() = %v, want it to name schema version 4000", err)
	}
}
