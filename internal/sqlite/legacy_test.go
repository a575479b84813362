package sqlite_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/sqlite"
)

// testdata/v1 is a state directory as the first release left it: its
// database (the 0001 schema, an HMAC-chained audit table of eight entries:
// a token, a person, a device, two restrictions, an extension, a lift and
// another token), the HMAC key and the head file.

// testdata/v6 is a state directory as the release before the signed log
// left it: the 0006 schema, with operators, approvals and appeals, and an
// HMAC-chained audit table of ten entries (the first admin's token, an
// operator, a person, a device, a restriction that waited and was
// approved, one that waited and was rejected, an appeal and a failed
// authentication).

// legacyState copies testdata/v1 into a new directory and returns it.
func legacyState(t *testing.T) string { return legacyStateOf(t, "v1") }

// legacyStateOf copies testdata/version into a new directory and returns it.
func legacyStateOf(t *testing.T, version string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"curfew.db", "audit.key", "audit.head"} {
		b, err := os.ReadFile(filepath.Join("testdata", version, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func openLegacy(t *testing.T, dir string, withKey bool) (*sqlite.DB, error) {
	t.Helper()
	c := &sqlite.Config{
		CheckpointPath: filepath.Join(dir, "audit.checkpoint"),
		LegacyHeadPath: filepath.Join(dir, "audit.head"),
		Now:            clock(),
	}
	if withKey {
		key, err := os.ReadFile(filepath.Join(dir, "audit.key"))
		if err != nil {
			t.Fatal(err)
		}
		c.LegacyKey = key
	}
	db, err := sqlite.Open(t.Context(), filepath.Join(dir, "curfew.db"), c)
	if err == nil {
		t.Cleanup(func() { db.Close() })
	}
	return db, err
}

func rawExec(t *testing.T, path string, stmts ...string) {
	t.Helper()
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, s := range stmts {
		if _, err := raw.Exec(s); err != nil {
			t.Fatalf("exec %q: %v", s, err)
		}
	}
}

func kinds(es []*audit.Event) []string {
	var k []string
	for _, e := range es {
		k = append(k, string(e.Kind))
	}
	return k
}

func TestUpgradeFromFirstRelease(t *testing.T) {
	dir := legacyState(t)
	db, err := openLegacy(t, dir, true)
	if err != nil {
		t.Fatalf("Open(first release's database) = %v", err)
	}
	es := auditEvents(t, db)
	want := []string{"legacy", "legacy", "legacy", "legacy", "legacy", "legacy", "legacy", "legacy",
		"audit.upgraded", "restriction.imported", "restriction.imported", "device.imported"}
	if diff := cmp.Diff(want, kinds(es)); diff != "" {
		t.Fatalf("events after the upgrade (-want +got):\n%s", diff)
	}
	// The old entries are carried over as they were.
	l := es[3]
	if l.Actor != "olga" || l.Reason != "exam week" || l.Legacy.Seq != 4 || l.Legacy.Action != "restriction.create" || l.Legacy.Target != "1" ||
		!strings.HasPrefix(l.Legacy.Detail, "cutoff on person:bob from ") || len(l.Legacy.Hash) != 64 {
		t.Errorf("legacy entry 4 = %+v %+v", l, l.Legacy)
	}
	if u := es[8].After; u.LegacyEntries != 8 || u.LegacyIntact != 8 {
		t.Errorf("audit.upgraded = %+v, want 8 entries, 8 intact", u)
	}
	if rep := verify(t, db); !rep.OK() || rep.Events != 12 {
		t.Errorf("verify() after the upgrade = %+v, problems %q", rep, problems(rep))
	}
	// The imported events describe the state as it is stored.
	s := audit.NewState()
	for _, e := range es {
		s.Apply(e)
	}
	rs, err := db.Restrictions(t.Context(), curfew.RestrictionFilter{All: true})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := db.Devices(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || len(ds) != 1 {
		t.Fatalf("state after the upgrade: %d restrictions, %d devices; want 2 and 1", len(rs), len(ds))
	}
	if diffs := s.Compare(rs, ds); len(diffs) != 0 || len(s.Problems()) != 0 {
		t.Errorf("Compare(rows) after the upgrade = %+v, problems %v; want none", diffs, s.Problems())
	}
	if !s.Applied(1) {
		t.Error("the imported restriction in force is not recorded as enforced")
	}

	// The old table is gone and nothing is carried over twice.
	db.Close()
	db, err = openLegacy(t, dir, false)
	if err != nil {
		t.Fatalf("reopening the upgraded database without the old key = %v", err)
	}
	if n := auditLen(t, db); n != 12 {
		t.Errorf("after reopening, %d events, want 12", n)
	}
	var tables int
	raw, _ := sql.Open("sqlite", filepath.Join(dir, "curfew.db"))
	defer raw.Close()
	if err := raw.QueryRow("SELECT count(*) FROM sqlite_master WHERE name = 'audit'").Scan(&tables); err != nil || tables != 0 {
		t.Errorf("table audit after the upgrade: %d, %v; want dropped", tables, err)
	}
}

// A first-release log already broken stays broken: the upgrade records
// how much of it verified, and the new log never verifies.
func TestUpgradeKeepsLegacyBreaks(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
		intact int64
	}{
		{"edited entry", func(t *testing.T, dir string) {
			rawExec(t, filepath.Join(dir, "curfew.db"), "DROP TRIGGER audit_no_update", "UPDATE audit SET reason = 'nothing' WHERE seq = 4")
		}, 3},
		{"newest entries deleted", func(t *testing.T, dir string) {
			rawExec(t, filepath.Join(dir, "curfew.db"), "DROP TRIGGER audit_no_delete", "DELETE FROM audit WHERE seq > 6")
		}, 6},
		{"head file of another log", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, "audit.head"), []byte("8 "+strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, 7},
		{"wrong key", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, "audit.key"), []byte(strings.Repeat("k", 32)), 0o600); err != nil {
				t.Fatal(err)
			}
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := legacyState(t)
			tt.damage(t, dir)
			db, err := openLegacy(t, dir, true)
			if err != nil {
				t.Fatal(err)
			}
			var up *audit.Event
			for _, e := range auditEvents(t, db) {
				if e.Kind == audit.KindAuditUpgraded {
					up = e
				}
			}
			if up == nil || up.After.LegacyEntries != 8 || up.After.LegacyIntact != tt.intact {
				t.Fatalf("audit.upgraded = %+v, want 8 entries of which %d intact", up, tt.intact)
			}
			rep := verify(t, db)
			if rep.OK() || rep.Problems[0].Kind != audit.ProblemLegacy {
				t.Errorf("verify() = %q, want the legacy break", problems(rep))
			}
		})
	}
}

// The release before the signed log: its approvals, operators and appeals
// are carried over, and the state the log then describes, approvals
// included, is the state stored.
func TestUpgradeFromSchema6(t *testing.T) {
	dir := legacyStateOf(t, "v6")
	db, err := openLegacy(t, dir, true)
	if err != nil {
		t.Fatalf("Open(schema 6 database) = %v", err)
	}
	es := auditEvents(t, db)
	want := []string{"legacy", "legacy", "legacy", "legacy", "legacy", "legacy", "legacy", "legacy", "legacy", "legacy",
		"audit.upgraded", "restriction.imported", "restriction.imported", "device.imported"}
	if diff := cmp.Diff(want, kinds(es)); diff != "" {
		t.Fatalf("events after the upgrade (-want +got):\n%s", diff)
	}
	if u := es[10].After; u.LegacyEntries != 10 || u.LegacyIntact != 10 {
		t.Errorf("audit.upgraded = %+v, want 10 entries, 10 intact", u)
	}
	if l := es[5]; l.Actor != "admin" || l.Legacy.Action != "restriction.approve" {
		t.Errorf("legacy entry 6 = %+v %+v, want admin's approval", l, l.Legacy)
	}
	if rep := verify(t, db); !rep.OK() || rep.Events != 14 {
		t.Errorf("verify() after the upgrade = %+v, problems %q", rep, problems(rep))
	}
	s := audit.NewState()
	for _, e := range es {
		s.Apply(e)
	}
	rs, err := db.Restrictions(t.Context(), curfew.RestrictionFilter{All: true})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := db.Devices(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if diffs := s.Compare(rs, ds); len(diffs) != 0 || len(s.Problems()) != 0 || len(rs) != 2 || len(ds) != 1 {
		t.Errorf("Compare(%d rows, %d devices) after the upgrade = %+v, problems %v; want none", len(rs), len(ds), diffs, s.Problems())
	}
	if a := s.Restriction(1).Approval; a.State != curfew.ApprovalApproved || a.By != "admin" {
		t.Errorf("restriction 1 as the log has it: approval %+v, want approved by admin", a)
	}
	if a := s.Restriction(2).Approval; a.State != curfew.ApprovalRejected || s.Restriction(2).Enforceable() {
		t.Errorf("restriction 2 as the log has it: approval %+v, want rejected, never in force", a)
	}
	if !s.Applied(1) || s.Applied(2) {
		t.Errorf("recorded as enforced: 1 %v, 2 %v; want the approved one only", s.Applied(1), s.Applied(2))
	}
	ops, err := db.Operators(t.Context())
	if err != nil || len(ops) != 2 {
		t.Errorf("operators after the upgrade = %d, %v; want admin and olga", len(ops), err)
	}
	if as, err := db.Appeals(t.Context(), curfew.AppealFilter{}); err != nil || len(as) != 1 {
		t.Errorf("appeals after the upgrade = %d, %v; want 1", len(as), err)
	}
	if kr, err := db.Request(t.Context(), "olga", "k1"); err != nil || kr.Target != "1" {
		t.Errorf("Request(olga, k1) after the upgrade = %+v, %v; want restriction 1", kr, err)
	}
}

// Without its key the old log cannot be verified, so the upgrade refuses
// and leaves the database as it was.
func TestUpgradeNeedsLegacyKey(t *testing.T) {
	dir := legacyState(t)
	if _, err := openLegacy(t, dir, false); err == nil || !strings.Contains(err.Error(), "audit.key") {
		t.Fatalf("Open(first release's database) without its key = %v, want an error naming audit.key", err)
	}
	raw, err := sql.Open("sqlite", filepath.Join(dir, "curfew.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var version, entries int
	if err := raw.QueryRow("SELECT max(version) FROM schema_migrations").Scan(&version); err != nil || version != 1 {
		t.Errorf("schema version after a refused upgrade = %d, %v; want 1", version, err)
	}
	if err := raw.QueryRow("SELECT count(*) FROM audit").Scan(&entries); err != nil || entries != 8 {
		t.Errorf("old entries after a refused upgrade = %d, %v; want 8", entries, err)
	}
}
