package sqlite_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/sqlite"
)

// writeEntries records n changes, one audit event each.
func writeEntries(t *testing.T, db *sqlite.DB, prefix string, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		addPerson(t, db, fmt.Sprintf("%s%d", prefix, i))
	}
}

// sign signs the head of db's log with the tests' key and stores the
// checkpoint, as the engine does.
func sign(t *testing.T, db *sqlite.DB) *audit.Checkpoint {
	t.Helper()
	head, err := db.AuditHead(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	c, err := audit.Sign(signKey, head, t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SaveCheckpoint(t.Context(), c); err != nil {
		t.Fatalf("SaveCheckpoint() = %v", err)
	}
	return c
}

// verify verifies db's log with the tests' key, as `curfew audit verify`
// does.
func verify(t *testing.T, db *sqlite.DB) *audit.Report {
	t.Helper()
	latest, err := db.CheckpointFile()
	if err != nil {
		t.Fatal(err)
	}
	v := audit.NewVerifier(signKey.Public().(ed25519.PublicKey), 1)
	v.Latest(latest)
	err = db.ReadAudit(t.Context(), 1, func(_ int64, data []byte, checkpoint bool) error {
		if checkpoint {
			v.Checkpoint(data)
		} else {
			v.Event(data)
		}
		return nil
	}, nil)
	if err != nil {
		t.Fatalf("ReadAudit() = %v", err)
	}
	return v.Report(false)
}

func problems(r *audit.Report) []string {
	var s []string
	for _, p := range r.Problems {
		s = append(s, p.String())
	}
	return s
}

// lines returns the log as ReadAudit gives it: "e SEQ" for an event, "c
// SEQ" for a checkpoint.
func lines(t *testing.T, db *sqlite.DB, from int64) []string {
	t.Helper()
	var got []string
	err := db.ReadAudit(t.Context(), from, func(seq int64, data []byte, checkpoint bool) error {
		kind := "e"
		if checkpoint {
			kind = "c"
		}
		got = append(got, fmt.Sprintf("%s %d", kind, seq))
		return nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// dropGuards removes the triggers that keep the log append-only, as
// someone editing the database would.
const dropGuards = `DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete;
	DROP TRIGGER audit_checkpoints_no_update; DROP TRIGGER audit_checkpoints_no_delete`

// The store keeps each event's encoding byte for byte, chained after the
// one before, and fills in the event it was given only once committed.
func TestEventsStoredAsSealed(t *testing.T) {
	f := newFileDB(t)
	db := f.open(t)
	given := t0.Add(-time.Hour).Add(456 * time.Microsecond) // kept to the millisecond
	e1 := entry(audit.KindPersonAdded, "person:p1")
	e1.At = given
	if err := db.CreatePerson(t.Context(), &curfew.Person{Name: "p1"}, e1); err != nil {
		t.Fatal(err)
	}
	e2 := entry(audit.KindPersonAdded, "person:p2")
	if err := db.CreatePerson(t.Context(), &curfew.Person{Name: "p2"}, e2); err != nil {
		t.Fatal(err)
	}
	if want := given.Truncate(time.Millisecond); !e1.At.Equal(want) {
		t.Errorf("first event At = %v, want %v", e1.At, want)
	}
	if want := t0.Add(time.Second); !e2.At.Equal(want) {
		t.Errorf("second event At = %v, want %v (from Config.Now)", e2.At, want)
	}
	var stored [][]byte
	if err := db.ReadAudit(t.Context(), 1, func(_ int64, data []byte, _ bool) error {
		stored = append(stored, bytes.Clone(data))
		return nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	if len(stored) != 2 || !bytes.Equal(stored[0], e1.Encode()) || !bytes.Equal(stored[1], e2.Encode()) {
		t.Fatalf("stored %q, want the events' encodings", stored)
	}
	if e1.Seq != 1 || e2.Seq != 2 || !e1.Prev.IsZero() || e2.Prev != audit.Sum(stored[0]) {
		t.Errorf("chain: %+v, %+v", e1, e2)
	}
	if head, err := db.AuditHead(t.Context()); err != nil || head != (audit.Head{Seq: 2, Hash: audit.Sum(stored[1])}) {
		t.Errorf("AuditHead() = %+v, %v", head, err)
	}

	// Events written after a checkpoint name it.
	sign(t, db)
	e3 := entry(audit.KindPersonAdded, "person:p3")
	if err := db.AppendEvents(t.Context(), e3); err != nil {
		t.Fatal(err)
	}
	if e3.LastCheckpoint != 2 {
		t.Errorf("event after the checkpoint of event 2 names checkpoint %d", e3.LastCheckpoint)
	}
	if rep := verify(t, db); !rep.OK() || rep.Events != 3 || rep.Signed.Seq != 2 {
		t.Errorf("verify() = %+v, problems %q", rep, problems(rep))
	}
}

func TestAuditIsAppendOnly(t *testing.T) {
	f := newFileDB(t)
	db := f.open(t)
	writeEntries(t, db, "p", 1)
	sign(t, db)
	for _, q := range []string{
		"UPDATE audit_events SET data = 'x'", "DELETE FROM audit_events",
		"UPDATE audit_checkpoints SET data = 'x'", "DELETE FROM audit_checkpoints",
	} {
		raw := f.raw(t)
		if _, err := raw.Exec(q); err == nil {
			t.Errorf("%s succeeded, want the append-only trigger to refuse it", q)
		}
		raw.Close()
	}
}

func TestSaveCheckpoint(t *testing.T) {
	f := newFileDB(t)
	db := f.open(t)
	writeEntries(t, db, "p", 2)
	c := sign(t, db)
	b, err := os.ReadFile(f.checkpoint)
	if err != nil || string(b) != string(c.Encode())+"\n" {
		t.Errorf("checkpoint file = %q, %v; want the checkpoint's line", b, err)
	}
	if got, err := db.CheckpointFile(); err != nil || !bytes.Equal(got, c.Encode()) {
		t.Errorf("CheckpointFile() = %q, %v", got, err)
	}
	if got, err := db.NewestCheckpoint(t.Context()); err != nil || got == nil || !bytes.Equal(got.Encode(), c.Encode()) {
		t.Errorf("NewestCheckpoint() = %v, %v", got, err)
	}
	if err := db.SaveCheckpoint(t.Context(), c); !errors.Is(err, curfew.ErrConflict) {
		t.Errorf("SaveCheckpoint(the same again) = %v, want ErrConflict", err)
	}

	// The file is written before the database: if the database refuses,
	// the file is ahead of it, never behind.
	f.exec(t, `CREATE TRIGGER fail_cp BEFORE INSERT ON audit_checkpoints BEGIN SELECT RAISE(ABORT, 'refused'); END`)
	writeEntries(t, db, "q", 1)
	head, _ := db.AuditHead(t.Context())
	c3, _ := audit.Sign(signKey, head, t0)
	if err := db.SaveCheckpoint(t.Context(), c3); err == nil {
		t.Fatal("SaveCheckpoint() succeeded though the database refuses it")
	}
	if got, _ := db.CheckpointFile(); !bytes.Equal(got, c3.Encode()) {
		t.Errorf("checkpoint file = %s after the database refused it, want the new checkpoint", got)
	}
	if got, _ := db.NewestCheckpoint(t.Context()); got.Seq != 2 {
		t.Errorf("NewestCheckpoint() = event %d, want 2", got.Seq)
	}
	if rep := verify(t, db); !rep.OK() || rep.Signed.Seq != 3 {
		t.Errorf("verify() with the file ahead of the database = %+v, problems %q; want OK, signed through 3", rep, problems(rep))
	}
}

func TestReadAuditOrder(t *testing.T) {
	f := newFileDB(t)
	db := f.open(t)
	writeEntries(t, db, "p", 2)
	sign(t, db)
	writeEntries(t, db, "q", 2)
	sign(t, db)
	writeEntries(t, db, "r", 1)
	if diff := cmp.Diff([]string{"e 1", "e 2", "c 2", "e 3", "e 4", "c 4", "e 5"}, lines(t, db, 1)); diff != "" {
		t.Errorf("ReadAudit(1) (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"e 3", "e 4", "c 4", "e 5"}, lines(t, db, 3)); diff != "" {
		t.Errorf("ReadAudit(3) (-want +got):\n%s", diff)
	}
	// The checkpoint of a missing event goes where that event was.
	f.exec(t, dropGuards, "DELETE FROM audit_events WHERE seq = 4")
	if diff := cmp.Diff([]string{"e 1", "e 2", "c 2", "e 3", "c 4", "e 5"}, lines(t, db, 1)); diff != "" {
		t.Errorf("ReadAudit(1) without event 4 (-want +got):\n%s", diff)
	}
	f.exec(t, "DELETE FROM audit_events WHERE seq > 2")
	if diff := cmp.Diff([]string{"e 1", "e 2", "c 2", "c 4"}, lines(t, db, 1)); diff != "" {
		t.Errorf("ReadAudit(1) after the last events were dropped (-want +got):\n%s", diff)
	}
}

// ReadAudit reads one view, and writers are not held up meanwhile.
func TestReadAuditConsistentView(t *testing.T) {
	f := newFileDB(t)
	db := f.open(t)
	writeEntries(t, db, "p", 3)
	var events, rows int
	err := db.ReadAudit(t.Context(), 1, func(_ int64, _ []byte, checkpoint bool) error {
		if events == 0 {
			addPerson(t, db, "written-while-reading")
			r := &curfew.Restriction{Subject: mustSubject(t, "person:p1"), Mode: curfew.ModeCutoff, Reason: "r", Author: "a",
				Start: t0, End: t0.Add(time.Hour), Created: t0}
			if err := db.CreateRestriction(t.Context(), r, entry(audit.KindRestrictionCreated, "person:p1")); err != nil {
				t.Fatal(err)
			}
		}
		events++
		return nil
	}, func(r *curfew.Restriction, _ *curfew.Device) error {
		if r != nil {
			rows++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if events != 3 || rows != 0 {
		t.Errorf("ReadAudit saw %d events and %d restrictions, want the 3 and 0 of the view it started with", events, rows)
	}
	if n := auditLen(t, db); n != 5 {
		t.Errorf("after the read, the log has %d events, want 5", n)
	}
}

// Events dropped from the end of the database after a checkpoint: the log
// goes on from the checkpoint, so that the loss stays a gap.
func TestWriteAfterTruncationKeepsEvidence(t *testing.T) {
	f := newFileDB(t)
	db := f.open(t)
	writeEntries(t, db, "p", 4)
	c := sign(t, db)
	db.Close()
	f.exec(t, dropGuards, "DELETE FROM audit_events WHERE seq >= 3")
	db = f.open(t)
	e := entry(audit.KindPersonAdded, "person:q")
	if err := db.CreatePerson(t.Context(), &curfew.Person{Name: "q"}, e); err != nil {
		t.Fatal(err)
	}
	if e.Seq != 5 || e.Prev != c.Head {
		t.Errorf("event written after the loss: seq %d prev %v, want 5 after the checkpoint's head %v", e.Seq, e.Prev, c.Head)
	}
	rep := verify(t, db)
	if rep.OK() || len(rep.Problems) != 1 || rep.Problems[0].Kind != audit.ProblemMissing || rep.Problems[0].Seq != 3 {
		t.Errorf("verify() problems = %q, want only events 3 to 4 missing", problems(rep))
	}
}
