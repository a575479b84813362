package engine_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/enforce"
	"github.com/curfew/curfew/internal/engine"
	"github.com/google/go-cmp/cmp"
)

// fourEyes makes restrictions longer than a day wait for a second operator.
var fourEyes = curfew.ApprovalPolicy{Enabled: true, RequiredOver: 24 * time.Hour}

// bob is the second operator; olga (the fixture's operator) asks.
var bob = curfew.Actor{Name: "bob", Role: curfew.RoleOperator}

const dev1 = "device:02:00:00:00:00:01"

func (f *fixture) status(t *testing.T, id curfew.RestrictionID) curfew.Status {
	t.Helper()
	r, err := f.eng.Restriction(f.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return r.StatusAt(time.Now())
}

func (f *fixture) events(t *testing.T) []*audit.Event {
	t.Helper()
	return events(t, f.db)
}

// The four eyes of the issue, on a fake clock: a long restriction is
// stored as pending with its audit entry and not enforced; its author's own
// approval and a viewer's fail and change nothing; a second operator's
// approval enforces it at once, and it then ends on time.
func TestFourEyes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixtureWith(t, fourEyes)
		start := time.Now().UTC()
		r := f.restrict(t, dev1, 48*time.Hour)
		if r.StatusAt(start) != curfew.StatusPending || r.Approval.Asker != "olga" {
			t.Fatalf("Restrict() = %+v, want pending, asked for by olga", r)
		}
		f.wantEnforced(t, "")
		applies := f.mem.Applies()

		for _, c := range []struct {
			name  string
			actor curfew.Actor
		}{{"its author", operator}, {"a viewer", viewer}} {
			_, err := f.eng.Approve(curfew.WithActor(context.Background(), c.actor), r.ID, "looks right to me")
			if !errors.Is(err, curfew.ErrForbidden) {
				t.Errorf("Approve by %s = %v, want ErrForbidden", c.name, err)
			}
		}
		time.Sleep(time.Hour) // into its window: still nothing
		synctest.Wait()
		f.wantEnforced(t, "")
		if st := f.status(t, r.ID); st != curfew.StatusPending {
			t.Errorf("status after refused approvals = %s, want pending", st)
		}
		if n := f.mem.Applies(); n < applies {
			t.Errorf("applies went backwards")
		}

		bctx := curfew.WithActor(context.Background(), bob)
		got, err := f.eng.Approve(bctx, r.ID, "  proportionate  ")
		if err != nil {
			t.Fatalf("Approve by bob = %v", err)
		}
		want := curfew.Approval{State: curfew.ApprovalApproved, Asker: "olga", Decided: time.Now().UTC(), By: "bob", Reason: "proportionate"}
		if diff := cmp.Diff(want, got.Approval); diff != "" {
			t.Errorf("Approve() approval (-want +got):\n%s", diff)
		}
		f.wantEnforced(t, "device 02:00:00:00:00:01 cutoff until="+start.Add(48*time.Hour).Format(time.RFC3339)+" ids=[1]\n")
		if _, err := f.eng.Approve(bctx, r.ID, "again"); !errors.Is(err, curfew.ErrConflict) {
			t.Errorf("second Approve = %v, want ErrConflict", err)
		}

		time.Sleep(47 * time.Hour)
		synctest.Wait()
		f.wantEnforced(t, "")
		if st := f.status(t, r.ID); st != curfew.StatusExpired {
			t.Errorf("status after its end = %s, want expired", st)
		}
		wantAudit := []string{"olga restriction.created 1", "bob restriction.approved 1", "curfew restriction.applied 1", "curfew restriction.expired 1"}
		if diff := cmp.Diff(wantAudit, f.actions(t)); diff != "" {
			t.Errorf("audit (-want +got):\n%s", diff)
		}
		d := f.events(t)
		if a := d[0].After; a.Approval != curfew.ApprovalPending || a.Asker != "olga" {
			t.Errorf("restrict audit event %s, want it to say it waits for an operator other than olga", d[0].Encode())
		}
		if a := d[1].After; d[1].Kind != audit.KindRestrictionApproved || a.Approval != curfew.ApprovalApproved || a.DecidedBy != "bob" || d[1].Reason != "proportionate" {
			t.Errorf("approve audit event %s, want bob's approval with his reason", d[1].Encode())
		}
		if rep, err := f.eng.VerifyAudit(f.ctx); err != nil || !rep.OK {
			t.Errorf("VerifyAudit() = %+v, %v", rep, err)
		}
	})
}

// A rejected restriction is never enforced, not even when its start
// comes, and can be neither approved nor extended afterwards.
func TestReject(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixtureWith(t, fourEyes)
		r, err := f.eng.Restrict(f.ctx, curfew.RestrictRequest{Subject: dev1, Reason: "test", Start: time.Now().Add(time.Hour), For: 72 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		bctx := curfew.WithActor(context.Background(), bob)
		if _, err := f.eng.Reject(bctx, r.ID, ""); !errors.Is(err, curfew.ErrInvalid) {
			t.Errorf("Reject without reason = %v, want ErrInvalid", err)
		}
		if _, err := f.eng.Reject(curfew.WithActor(context.Background(), viewer), r.ID, "no"); !errors.Is(err, curfew.ErrForbidden) {
			t.Errorf("Reject by a viewer = %v, want ErrForbidden", err)
		}
		got, err := f.eng.Reject(bctx, r.ID, "disproportionate")
		if err != nil {
			t.Fatalf("Reject() = %v", err)
		}
		if st := got.StatusAt(time.Now()); st != curfew.StatusRejected {
			t.Errorf("Reject() status = %s, want rejected", st)
		}
		time.Sleep(2 * time.Hour)
		synctest.Wait()
		f.wantEnforced(t, "")
		if _, err := f.eng.Approve(bctx, r.ID, "changed my mind"); !errors.Is(err, curfew.ErrConflict) {
			t.Errorf("Approve after Reject = %v, want ErrConflict", err)
		}
		if _, err := f.eng.Extend(f.ctx, r.ID, time.Time{}, time.Hour, "more"); !errors.Is(err, curfew.ErrConflict) {
			t.Errorf("Extend after Reject = %v, want ErrConflict", err)
		}
		if _, err := f.eng.Lift(f.ctx, r.ID, "done"); !errors.Is(err, curfew.ErrConflict) {
			t.Errorf("Lift after Reject = %v, want ErrConflict", err)
		}
		cur, err := f.eng.Restrictions(f.ctx, curfew.RestrictionFilter{})
		if err != nil || len(cur) != 0 {
			t.Errorf("Restrictions() = %v, %v; want none current", cur, err)
		}
		wantAudit := []string{"olga restriction.created 1", "bob restriction.rejected 1"}
		if diff := cmp.Diff(wantAudit, f.actions(t)); diff != "" {
			t.Errorf("audit (-want +got):\n%s", diff)
		}
	})
}

// A restriction still pending at its end expires without ever having
// applied, and the audit says so.
func TestPendingExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixtureWith(t, curfew.ApprovalPolicy{Enabled: true}) // every restriction waits
		r := f.restrict(t, dev1, time.Hour)
		time.Sleep(time.Hour)
		synctest.Wait()
		got, err := f.eng.Restriction(f.ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Expired.IsZero() || got.StatusAt(time.Now()) != curfew.StatusExpired {
			t.Errorf("after its end: %+v, want recorded as expired", got)
		}
		if n := f.mem.Applies(); f.mem.String() != "" || n == 0 {
			t.Errorf("enforced %q after %d applies, want nothing ever", f.mem.String(), n)
		}
		if _, err := f.eng.Approve(curfew.WithActor(context.Background(), bob), r.ID, "late"); !errors.Is(err, curfew.ErrConflict) {
			t.Errorf("Approve after its end = %v, want ErrConflict", err)
		}
		d := f.events(t)
		if len(d) != 2 || d[1].Kind != audit.KindRestrictionExpired {
			t.Errorf("audit = %q, want the creation and an expiry, never an application", f.actions(t))
		}
	})
}

// Only the configured modes wait, and only restrictions longer than
// required_over.
func TestApprovalPolicyModes(t *testing.T) {
	f := newFixtureWith(t, curfew.ApprovalPolicy{Enabled: true, RequiredOver: 24 * time.Hour, Modes: []curfew.Mode{curfew.ModeCutoff}})
	short := f.restrict(t, dev1, 24*time.Hour)
	long, err := f.eng.Restrict(f.ctx, curfew.RestrictRequest{Subject: "device:02:00:00:00:00:02", Mode: curfew.ModeBlocklist, Block: []string{"social.example"}, Reason: "x", For: 30 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	cut := f.restrict(t, "device:02:00:00:00:00:03", 25*time.Hour)
	for _, c := range []struct {
		name string
		r    *curfew.Restriction
		want curfew.Status
	}{{"exactly required_over", short, curfew.StatusActive}, {"a mode that needs none", long, curfew.StatusActive}, {"longer", cut, curfew.StatusPending}} {
		if st := c.r.StatusAt(c.r.Start); st != c.want {
			t.Errorf("%s: status %s, want %s", c.name, st, c.want)
		}
	}
}

// Restricting for an hour and extending to a month cannot bypass four
// eyes: the extension waits, the restriction stays enforced until its
// current end, and only a second operator's approval moves the end.
func TestExtendPastRequiredOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixtureWith(t, fourEyes)
		start := time.Now().UTC()
		hour := start.Add(time.Hour).Format(time.RFC3339)
		month := start.Add(30 * 24 * time.Hour)
		r := f.restrict(t, dev1, time.Hour)
		f.wantEnforced(t, "device 02:00:00:00:00:01 cutoff until="+hour+" ids=[1]\n")

		got, err := f.eng.Extend(f.ctx, r.ID, month, 0, "a month")
		if err != nil {
			t.Fatalf("Extend() = %v", err)
		}
		if !got.End.Equal(start.Add(time.Hour)) || !got.Approval.Pending() || !got.Approval.ExtendTo.Equal(month) || got.StatusAt(start) != curfew.StatusActive {
			t.Errorf("Extend() = end %v, approval %+v, status %s; want the end unchanged, the extension pending, still active", got.End, got.Approval, got.StatusAt(start))
		}
		f.wantEnforced(t, "device 02:00:00:00:00:01 cutoff until="+hour+" ids=[1]\n")
		if _, err := f.eng.Approve(f.ctx, r.ID, "mine"); !errors.Is(err, curfew.ErrForbidden) {
			t.Errorf("Approve of their own extension = %v, want ErrForbidden", err)
		}

		// A second extension, within required_over, replaces the waiting
		// one and applies at once.
		if _, err := f.eng.Extend(f.ctx, r.ID, time.Time{}, time.Hour, "two hours will do"); err != nil {
			t.Fatal(err)
		}
		f.wantEnforced(t, "device 02:00:00:00:00:01 cutoff until="+start.Add(2*time.Hour).Format(time.RFC3339)+" ids=[1]\n")
		if _, err := f.eng.Approve(curfew.WithActor(context.Background(), bob), r.ID, "ok"); !errors.Is(err, curfew.ErrConflict) {
			t.Errorf("Approve once the extension was replaced = %v, want ErrConflict", err)
		}

		// Asked again; this time a second operator approves it.
		if _, err := f.eng.Extend(f.ctx, r.ID, month, 0, "a month after all"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.eng.Approve(curfew.WithActor(context.Background(), bob), r.ID, "agreed"); err != nil {
			t.Fatalf("Approve of the extension = %v", err)
		}
		f.wantEnforced(t, "device 02:00:00:00:00:01 cutoff until="+month.Format(time.RFC3339)+" ids=[1]\n")

		// A further lengthening of a restriction already over the limit
		// needs a second operator again; rejected, it leaves the end alone.
		if _, err := f.eng.Extend(f.ctx, r.ID, time.Time{}, 24*time.Hour, "one more day"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.eng.Reject(curfew.WithActor(context.Background(), bob), r.ID, "enough"); err != nil {
			t.Fatalf("Reject of the extension = %v", err)
		}
		f.wantEnforced(t, "device 02:00:00:00:00:01 cutoff until="+month.Format(time.RFC3339)+" ids=[1]\n")
		if st := f.status(t, r.ID); st != curfew.StatusActive {
			t.Errorf("status after a rejected extension = %s, want active", st)
		}
		wantAudit := []string{
			"olga restriction.created 1", "curfew restriction.applied 1", "olga restriction.extended 1", "olga restriction.extended 1",
			"olga restriction.extended 1", "bob restriction.approved 1", "olga restriction.extended 1", "bob restriction.rejected 1",
		}
		if diff := cmp.Diff(wantAudit, f.actions(t)); diff != "" {
			t.Errorf("audit (-want +got):\n%s", diff)
		}
	})
}

// An approved restriction that starts later is enforced from its start.
func TestApproveScheduled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixtureWith(t, fourEyes)
		start := time.Now().UTC().Add(time.Hour)
		r, err := f.eng.Restrict(f.ctx, curfew.RestrictRequest{Subject: dev1, Reason: "x", Start: start, For: 48 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		got, err := f.eng.Approve(curfew.WithActor(context.Background(), bob), r.ID, "ok")
		if err != nil {
			t.Fatal(err)
		}
		if st := got.StatusAt(time.Now()); st != curfew.StatusScheduled {
			t.Errorf("approved before its start: status %s, want scheduled", st)
		}
		f.wantEnforced(t, "")
		time.Sleep(time.Hour)
		synctest.Wait()
		f.wantEnforced(t, "device 02:00:00:00:00:01 cutoff until="+start.Add(48*time.Hour).Format(time.RFC3339)+" ids=[1]\n")
	})
}

// A new engine on the same store (the daemon restarted) keeps a pending
// restriction pending and unenforced.
func TestPendingSurvivesRestart(t *testing.T) {
	f := newFixtureWith(t, fourEyes)
	r := f.restrict(t, dev1, 48*time.Hour)
	mem := &enforce.Memory{}
	eng, err := engine.New(&engine.Config{Store: f.db, Backends: []enforce.Backend{mem}, Logger: slog.New(slog.DiscardHandler), VerifyInterval: -1, Approvals: fourEyes})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	if err := eng.Reconcile(t.Context()); err != nil {
		t.Fatal(err)
	}
	if mem.Applies() != 1 || mem.String() != "" {
		t.Errorf("after a restart: %d applies enforcing %q, want one enforcing nothing", mem.Applies(), mem.String())
	}
	if _, err := eng.Approve(curfew.WithActor(t.Context(), bob), r.ID, "ok"); err != nil {
		t.Fatal(err)
	}
	if _, ok := mem.LookupMAC(mac("02:00:00:00:00:01")); !ok {
		t.Errorf("approved after a restart, not enforced:\n%s", mem)
	}
}
