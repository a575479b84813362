package sqlite_test

import (
	"bytes"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/sqlite"
)

// writeEntries records n changes, one audit entry each.
func writeEntries(t *testing.T, db *sqlite.DB, prefix string, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		addPerson(t, db, fmt.Sprintf("%s%d", prefix, i))
	}
}

func verify(t *testing.T, db *sqlite.DB) *curfew.AuditReport {
	t.Helper()
	rep, err := db.VerifyAudit(t.Context())
	if err != nil {
		t.Fatalf("VerifyAudit() = %v", err)
	}
	return rep
}

// wantBroken checks that rep reports a break whose problem starts with
// "entry SEQ:" and mentions what.
func wantBroken(t *testing.T, rep *curfew.AuditReport, seq int64, what string) {
	t.Helper()
	prefix := fmt.Sprintf("entry %d:", seq)
	if rep.OK || !strings.HasPrefix(rep.Problem, prefix) || !strings.Contains(rep.Problem, what) {
		t.Errorf("VerifyAudit() = %+v, want a problem starting %q mentioning %q", rep, prefix, what)
	}
	if rep.Entries != seq-1 {
		t.Errorf("VerifyAudit().Entries = %d, want %d intact before the break", rep.Entries, seq-1)
	}
}

// dropGuards removes the triggers that keep the audit table append-only,
// as someone editing the database would.
const dropGuards = "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete"

func TestVerifyAuditIntact(t *testing.T) {
	f := newFileDB(t)
	db := f.open(t, testKey)
	if rep := verify(t, db); !rep.OK || rep.Entries != 0 {
		t.Errorf("VerifyAudit(empty) = %+v, want OK with 0 entries", rep)
	}
	writeEntries(t, db, "p", 5)
	if rep := verify(t, db); !rep.OK || rep.Entries != 5 || rep.Problem != "" {
		t.Errorf("VerifyAudit() = %+v, want OK with 5 entries", rep)
	}
	b, err := os.ReadFile(f.head)
	if err != nil {
		t.Fatal(err)
	}
	es, _ := db.Audit(t.Context())
	if want := fmt.Sprintf("5 %s\n", es[4].Hash); string(b) != want {
		t.Errorf("head file = %q, want %q", b, want)
	}
}

func TestAuditIsAppendOnly(t *testing.T) {
	f := newFileDB(t)
	db := f.open(t, testKey)
	writeEntries(t, db, "p", 1)
	raw, err := sql.Open("sqlite", f.path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, q := range []string{"UPDATE audit SET reason = 'x'", "DELETE FROM audit"} {
		if _, err := raw.Exec(q); err == nil {
			t.Errorf("%s succeeded, want the append-only trigger to refuse it", q)
		}
	}
}

func TestVerifyAuditDetectsTampering(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(t *testing.T, f fileDB)
		seq    int64
		what   string
	}{
		{"edited reason", func(t *testing.T, f fileDB) {
			f.exec(t, dropGuards, "UPDATE audit SET reason = 'nothing to see' WHERE seq = 3")
		}, 3, "edited"},
		{"edited time", func(t *testing.T, f fileDB) {
			f.exec(t, dropGuards, "UPDATE audit SET at = at + 1 WHERE seq = 3")
		}, 3, "edited"},
		{"edited hash", func(t *testing.T, f fileDB) {
			f.exec(t, dropGuards, "UPDATE audit SET hash = (SELECT hash FROM audit WHERE seq = 2) WHERE seq = 3")
		}, 3, "edited"},
		{"deleted middle entry", func(t *testing.T, f fileDB) {
			f.exec(t, dropGuards, "DELETE FROM audit WHERE seq = 3")
		}, 3, "missing"},
		{"deleted first entry", func(t *testing.T, f fileDB) {
			f.exec(t, dropGuards, "DELETE FROM audit WHERE seq = 1")
		}, 1, "missing"},
		{"deleted last entry", func(t *testing.T, f fileDB) {
			f.exec(t, dropGuards, "DELETE FROM audit WHERE seq = 5")
		}, 5, "truncated"},
		{"deleted every entry", func(t *testing.T, f fileDB) {
			f.exec(t, dropGuards, "DELETE FROM audit")
		}, 1, "truncated"},
		{"renumbered to hide a deletion", func(t *testing.T, f fileDB) {
			f.exec(t, dropGuards, "DELETE FROM audit WHERE seq = 3", "UPDATE audit SET seq = seq - 1 WHERE seq > 3")
		}, 3, "edited"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFileDB(t)
			db := f.open(t, testKey)
			writeEntries(t, db, "p", 5)
			tt.tamper(t, f)
			wantBroken(t, verify(t, db), tt.seq, tt.what)
		})
	}
}

// An entry spliced in from another chain under the same key has a valid
// hash of its own but does not link to its predecessor.
func TestVerifyAuditDetectsBrokenLink(t *testing.T) {
	a, b := newFileDB(t), newFileDB(t)
	dbA, dbB := a.open(t, testKey), b.open(t, testKey)
	writeEntries(t, dbA, "a", 5)
	writeEntries(t, dbB, "b", 5)
	es, err := dbB.Audit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	e := es[2]
	a.exec(t, dropGuards, "DELETE FROM audit WHERE seq = 3",
		fmt.Sprintf("INSERT INTO audit (seq, at, actor, action, target, reason, detail, prev_hash, hash) VALUES (3, %d, '%s', '%s', '%s', '%s', '%s', '%s', '%s')",
			e.At.UnixMilli(), e.Actor, e.Action, e.Target, e.Reason, e.Detail, e.PrevHash, e.Hash))
	wantBroken(t, verify(t, dbA), 3, "broken link")
}

func TestVerifyAuditWrongKey(t *testing.T) {
	f := newFileDB(t)
	db := f.open(t, testKey)
	writeEntries(t, db, "p", 3)
	db.Close()
	other := f.open(t, bytes.Repeat([]byte{0xa5}, sqlite.MinKeySize))
	wantBroken(t, verify(t, other), 1, "key")
}

// Deleting the newest entries and then writing again must not hide the
// deletion: the new entry continues from the head file, leaving a gap.
func TestWriteAfterTruncationKeepsEvidence(t *testing.T) {
	f := newFileDB(t)
	db := f.open(t, testKey)
	writeEntries(t, db, "p", 5)
	f.exec(t, dropGuards, "DELETE FROM audit WHERE seq >= 4")
	writeEntries(t, db, "q", 1)
	wantBroken(t, verify(t, db), 4, "missing")
	es, _ := db.Audit(t.Context())
	if last := es[len(es)-1]; last.Seq != 6 {
		t.Errorf("entry written after truncation has Seq %d, want 6", last.Seq)
	}
}

// A database ahead of its head file is what a crash between the commit and
// the file rewrite leaves: it verifies, and the file catches up.
func TestVerifyAuditDatabaseAheadOfHead(t *testing.T) {
	f := newFileDB(t)
	db := f.open(t, testKey)
	writeEntries(t, db, "p", 2)
	db.Close()

	noHead, err := sqlite.Open(t.Context(), f.path, &sqlite.Config{AuditKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	writeEntries(t, noHead, "q", 2)
	noHead.Close()

	db = f.open(t, testKey)
	if rep := verify(t, db); !rep.OK || rep.Entries != 4 {
		t.Errorf("VerifyAudit() = %+v, want OK with 4 entries", rep)
	}
	b, err := os.ReadFile(f.head)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), "4 ") {
		t.Errorf("head file = %q after verification, want it at entry 4", b)
	}
}

// Restoring an old copy of the database and writing new entries with the
// key (but not the head file) produces a valid chain that disagrees with
// the head.
func TestVerifyAuditHeadMismatch(t *testing.T) {
	f := newFileDB(t)
	db := f.open(t, testKey)
	writeEntries(t, db, "p", 5)
	f.exec(t, dropGuards, "DELETE FROM audit WHERE seq >= 4")

	noHead, err := sqlite.Open(t.Context(), f.path, &sqlite.Config{AuditKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	defer noHead.Close()
	writeEntries(t, noHead, "forged", 2)
	wantBroken(t, verify(t, db), 5, "head file")
}

func TestVerifyAuditMalformedHead(t *testing.T) {
	f := newFileDB(t)
	db := f.open(t, testKey)
	writeEntries(t, db, "p", 1)
	if err := os.WriteFile(f.head, []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := db.VerifyAudit(t.Context()); err == nil {
		t.Error("VerifyAudit() with a malformed head file succeeded, want an error")
	}
}
