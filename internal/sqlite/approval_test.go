package sqlite_test

import (
	"database/sql"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
)

// TestApprovalRoundTrip stores restrictions in each approval state, reads
// them back whole, and checks that the zero filter leaves out only those a
// second operator rejected outright.
func TestApprovalRoundTrip(t *testing.T) {
	ctx := t.Context()
	db := openMemory(t)
	mk := func(subject string, a curfew.Approval) *curfew.Restriction {
		r := &curfew.Restriction{
			Subject: mustSubject(t, subject), Mode: curfew.ModeCutoff, Reason: "r", Author: "alice",
			Start: t0, End: t0.Add(48 * time.Hour), Created: t0, Approval: a,
		}
		if err := db.CreateRestriction(ctx, r, entry(audit.KindRestrictionCreated, "")); err != nil {
			t.Fatalf("CreateRestriction() = %v", err)
		}
		return r
	}
	decided := t0.Add(time.Minute)
	rs := []*curfew.Restriction{
		mk("person:none", curfew.Approval{}),
		mk("person:pending", curfew.Approval{State: curfew.ApprovalPending, Asker: "alice"}),
		mk("person:approved", curfew.Approval{State: curfew.ApprovalApproved, Asker: "alice", Decided: decided, By: "bob", Reason: "agreed"}),
		mk("person:rejected", curfew.Approval{State: curfew.ApprovalRejected, Asker: "alice", Decided: decided, By: "bob", Reason: "no"}),
		mk("person:extension", curfew.Approval{State: curfew.ApprovalPending, Asker: "carol", ExtendTo: t0.Add(72 * time.Hour)}),
		mk("person:extension-rejected", curfew.Approval{State: curfew.ApprovalRejected, Asker: "carol", ExtendTo: t0.Add(72 * time.Hour), Decided: decided, By: "bob", Reason: "no"}),
	}
	got, err := db.Restrictions(ctx, curfew.RestrictionFilter{All: true})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rs, got, cmpOpts); diff != "" {
		t.Errorf("Restrictions(All) (-want +got):\n%s", diff)
	}

	open, err := db.Restrictions(ctx, curfew.RestrictionFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []curfew.RestrictionID
	for _, r := range open {
		ids = append(ids, r.ID)
	}
	if diff := cmp.Diff([]curfew.RestrictionID{1, 2, 3, 5, 6}, ids); diff != "" {
		t.Errorf("Restrictions() IDs: want all but the rejected one (-want +got):\n%s", diff)
	}

	// A decision is stored by UpdateRestriction.
	p := rs[1]
	if err := p.Decide(decided, "bob", true, "agreed"); err != nil {
		t.Fatal(err)
	}
	if err := db.UpdateRestriction(ctx, p, entry(audit.KindRestrictionApproved, "2")); err != nil {
		t.Fatalf("UpdateRestriction() = %v", err)
	}
	back, err := db.Restriction(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p, back, cmpOpts); diff != "" {
		t.Errorf("after UpdateRestriction (-want +got):\n%s", diff)
	}
}

// TestApprovalStateChecked checks that the database itself refuses an
// approval state curfew does not know.
func TestApprovalStateChecked(t *testing.T) {
	db := openMemory(t)
	r := &curfew.Restriction{
		Subject: mustSubject(t, "person:x"), Mode: curfew.ModeCutoff, Reason: "r", Author: "alice",
		Start: t0, End: t0.Add(time.Hour), Created: t0, Approval: curfew.Approval{State: "maybe", Asker: "alice"},
	}
	if err := db.CreateRestriction(t.Context(), r, entry(audit.KindRestrictionCreated, "")); err == nil {
		t.Error("CreateRestriction() with approval state \"maybe\" succeeded, want the CHECK constraint to refuse it")
	}
}

// TestMigrateFromFirstSchema opens a database written before approvals
// existed: the missing migrations are applied and its restrictions read
// back as needing no approval.
func TestMigrateFromFirstSchema(t *testing.T) {
	f := newFileDB(t)
	init, err := os.ReadFile("migration/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", f.path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		string(init),
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`,
		`INSERT INTO schema_migrations VALUES (1, '0001_init.sql', 0)`,
		`INSERT INTO restrictions (subject, mode, reason, author, starts_at, ends_at, created_at)
			VALUES ('person:old', 'cutoff', 'r', 'alice', 0, 4102444800000, 0)`,
	} {
		if _, err := raw.Exec(s); err != nil {
			t.Fatalf("exec %q: %v", s, err)
		}
	}
	raw.Close()

	db := f.open(t)
	r, err := db.Restriction(t.Context(), 1)
	if err != nil {
		t.Fatalf("Restriction(1) after migrating = %v", err)
	}
	if r.Approval != (curfew.Approval{}) || r.Subject.String() != "person:old" {
		t.Errorf("Restriction(1) after migrating = %+v, want person:old with no approval", r)
	}
	open, err := db.Restrictions(t.Context(), curfew.RestrictionFilter{})
	if err != nil || len(open) != 1 {
		t.Errorf("Restrictions() after migrating = %d, %v; want the one restriction", len(open), err)
	}
}
