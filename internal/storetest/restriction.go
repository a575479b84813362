package storetest

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/curfew/curfew/internal/curfew"
)

func testRestrictions(t *testing.T, newStore func(t *testing.T) Store) {
	t.Run("create assigns ascending ids and names them in the audit entry", func(t *testing.T) {
		s := newStore(t)
		var last curfew.RestrictionID
		for i, subj := range []string{"device:02:00:00:00:00:01", "person:resident", "ip:10.9.0.0/24"} {
			r := restriction(subj)
			a := entry("alice", curfew.ActionRestrict, "")
			if err := s.CreateRestriction(t.Context(), r, a); err != nil {
				t.Fatalf("CreateRestriction(%s) = %v", subj, err)
			}
			if r.ID <= last {
				t.Errorf("restriction %d got ID %d, want one above %d", i+1, r.ID, last)
			}
			if a.Restriction != r.ID {
				t.Errorf("audit event names restriction %d, want the new ID %d", a.Restriction, r.ID)
			}
			last = r.ID
		}
	})

	t.Run("every field reads back", func(t *testing.T) {
		s := newStore(t)
		decided := t0.Add(2 * time.Minute)
		want := []*curfew.Restriction{
			{
				Subject: mustSubject("device:02:00:00:00:00:0a"), Mode: curfew.ModeAllowlist,
				Allow:  []string{"school.example.org", "198.51.100.0/24", "2001:db8:100::/48"},
				Reason: "exam week", Notice: "Back on Friday.\nAsk the front desk.", Author: "alice",
				Start: t0.Add(time.Minute), End: t0.Add(24 * time.Hour), Created: t0,
			},
			{
				Subject: mustSubject("person:resident"), Mode: curfew.ModeBlocklist,
				Block:  []string{"video.example", "games.example"},
				Reason: "parental rule", Author: "bob",
				Start: t0, End: t0.Add(3 * time.Hour), Created: t0,
				Lifted: t0.Add(time.Hour), LiftedBy: "carol", LiftReason: "resolved",
			},
			{
				Subject: mustSubject("ip:2001:db8:7::/64"), Mode: curfew.ModeCutoff,
				Reason: "routed guest network", Author: "alice",
				Start: t0, End: t0.Add(time.Hour), Created: t0, Expired: t0.Add(time.Hour + time.Second),
				Approval: curfew.Approval{State: curfew.ApprovalApproved, Asker: "alice", Decided: decided, By: "bob", Reason: "reviewed"},
			},
			{
				Subject: mustSubject("ip:10.8.0.0/14"), Mode: curfew.ModeCutoff,
				Reason: "routed lab", Author: "alice",
				Start: t0, End: t0.Add(time.Hour), Created: t0,
				Approval: curfew.Approval{State: curfew.ApprovalPending, Asker: "alice", ExtendTo: t0.Add(48 * time.Hour)},
			},
			{
				Subject: mustSubject("group:teens"), Mode: curfew.ModeThrottle, Rate: 2_000_000,
				Reason: "school nights", Notice: "Slowed down until the morning.", Author: "alice",
				Start: t0, End: t0.Add(8 * time.Hour), Created: t0,
			},
			{
				Subject: mustSubject("ip:192.0.2.7/32"), Mode: curfew.ModeCutoff,
				Reason: "one host", Author: "alice",
				Start: t0, End: t0.Add(time.Hour), Created: t0,
				Approval: curfew.Approval{State: curfew.ApprovalRejected, Asker: "alice", Decided: decided, By: "bob", Reason: "disproportionate"},
			},
		}
		for _, r := range want {
			stored := *r
			create(t, s, &stored)
			r.ID = stored.ID
		}
		for _, r := range want {
			got, err := s.Restriction(t.Context(), r.ID)
			if err != nil {
				t.Fatalf("Restriction(%d) = %v", r.ID, err)
			}
			if diff := cmp.Diff(r, got, cmpOpts); diff != "" {
				t.Errorf("Restriction(%d) (-want +got):\n%s", r.ID, diff)
			}
		}
		all, err := s.Restrictions(t.Context(), curfew.RestrictionFilter{All: true})
		if err != nil {
			t.Fatalf("Restrictions(All) = %v", err)
		}
		if diff := cmp.Diff(want, all, cmpOpts); diff != "" {
			t.Errorf("Restrictions(All) (-want +got):\n%s", diff)
		}
	})

	t.Run("empty allow and block lists read back as nil", func(t *testing.T) {
		s := newStore(t)
		r := restriction("device:02:00:00:00:00:01")
		r.Allow, r.Block = []string{}, []string{}
		create(t, s, r)
		got, err := s.Restriction(t.Context(), r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Allow != nil || got.Block != nil {
			t.Errorf("Restriction(%d) Allow = %#v, Block = %#v; want nil, nil", r.ID, got.Allow, got.Block)
		}
	})

	t.Run("update stores the mutable fields only", func(t *testing.T) {
		s := newStore(t)
		r := create(t, s, restriction("device:02:00:00:00:00:01"))
		changed := *r
		changed.End = t0.Add(2 * time.Hour)
		changed.Lifted, changed.LiftedBy, changed.LiftReason = t0.Add(time.Minute), "bob", "resolved"
		changed.Expired = t0.Add(3 * time.Hour)
		changed.Approval = curfew.Approval{State: curfew.ApprovalRejected, Asker: "bob", ExtendTo: t0.Add(5 * time.Hour), Decided: t0.Add(time.Minute), By: "carol", Reason: "no"}
		// Fields a change may not touch: the store keeps what it has.
		changed.Subject = mustSubject("device:02:00:00:00:00:99")
		changed.Mode = curfew.ModeBlocklist
		changed.Block = []string{"x.example"}
		changed.Rate = 1_000_000
		changed.Reason, changed.Notice, changed.Author = "rewritten", "rewritten", "mallory"
		changed.Start, changed.Created = t0.Add(-time.Hour), t0.Add(-time.Hour)
		update(t, s, &changed, curfew.ActionLift)

		want := *r
		want.End, want.Lifted, want.LiftedBy, want.LiftReason = changed.End, changed.Lifted, changed.LiftedBy, changed.LiftReason
		want.Expired, want.Approval = changed.Expired, changed.Approval
		got, err := s.Restriction(t.Context(), r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(&want, got, cmpOpts); diff != "" {
			t.Errorf("Restriction(%d) after UpdateRestriction (-want +got):\n%s", r.ID, diff)
		}
	})

	t.Run("status transitions and the open filter", func(t *testing.T) {
		// The zero filter returns what can still apply: neither lifted, nor
		// recorded as expired, nor rejected as a whole (a rejected
		// extension leaves its restriction in force).
		s := newStore(t)
		pendingThenApproved := restriction("device:02:00:00:00:00:01")
		pendingThenApproved.Approval = curfew.Approval{State: curfew.ApprovalPending, Asker: "alice"}
		pendingThenRejected := restriction("device:02:00:00:00:00:02")
		pendingThenRejected.Approval = curfew.Approval{State: curfew.ApprovalPending, Asker: "alice"}
		lifted := restriction("device:02:00:00:00:00:03")
		expired := restriction("device:02:00:00:00:00:04")
		extensionRejected := restriction("device:02:00:00:00:00:05")
		for _, r := range []*curfew.Restriction{pendingThenApproved, pendingThenRejected, lifted, expired, extensionRejected} {
			create(t, s, r)
		}
		open := func() []curfew.RestrictionID {
			t.Helper()
			rs, err := s.Restrictions(t.Context(), curfew.RestrictionFilter{})
			if err != nil {
				t.Fatalf("Restrictions() = %v", err)
			}
			return ids(rs)
		}
		all := []curfew.RestrictionID{pendingThenApproved.ID, pendingThenRejected.ID, lifted.ID, expired.ID, extensionRejected.ID}
		if diff := cmp.Diff(all, open()); diff != "" {
			t.Fatalf("Restrictions() of new ones (-want +got):\n%s", diff)
		}

		steps := []struct {
			name   string
			r      *curfew.Restriction
			change func(r *curfew.Restriction)
			open   []curfew.RestrictionID
		}{
			{"pending approved stays open", pendingThenApproved, func(r *curfew.Restriction) {
				r.Approval.State, r.Approval.Decided, r.Approval.By = curfew.ApprovalApproved, t0.Add(time.Minute), "bob"
			}, all},
			{"pending rejected leaves", pendingThenRejected, func(r *curfew.Restriction) {
				r.Approval.State, r.Approval.Decided, r.Approval.By = curfew.ApprovalRejected, t0.Add(time.Minute), "bob"
			}, []curfew.RestrictionID{pendingThenApproved.ID, lifted.ID, expired.ID, extensionRejected.ID}},
			{"lifted leaves", lifted, func(r *curfew.Restriction) {
				r.Lifted, r.LiftedBy, r.LiftReason = t0.Add(time.Minute), "bob", "done"
			}, []curfew.RestrictionID{pendingThenApproved.ID, expired.ID, extensionRejected.ID}},
			{"expired leaves", expired, func(r *curfew.Restriction) {
				r.Expired = r.End
			}, []curfew.RestrictionID{pendingThenApproved.ID, extensionRejected.ID}},
			{"extension asked for stays open", extensionRejected, func(r *curfew.Restriction) {
				r.RequestExtension("alice", t0.Add(30*24*time.Hour))
			}, []curfew.RestrictionID{pendingThenApproved.ID, extensionRejected.ID}},
			{"extension rejected stays open", extensionRejected, func(r *curfew.Restriction) {
				r.Approval.State, r.Approval.Decided, r.Approval.By = curfew.ApprovalRejected, t0.Add(time.Minute), "bob"
			}, []curfew.RestrictionID{pendingThenApproved.ID, extensionRejected.ID}},
		}
		for _, st := range steps {
			st.change(st.r)
			update(t, s, st.r, curfew.ActionApprove)
			if diff := cmp.Diff(st.open, open()); diff != "" {
				t.Errorf("%s: Restrictions() (-want +got):\n%s", st.name, diff)
			}
			got, err := s.Restriction(t.Context(), st.r.ID)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(st.r, got, cmpOpts); diff != "" {
				t.Errorf("%s: Restriction(%d) (-want +got):\n%s", st.name, st.r.ID, diff)
			}
		}
		rs, err := s.Restrictions(t.Context(), curfew.RestrictionFilter{All: true})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(all, ids(rs)); diff != "" {
			t.Errorf("Restrictions(All) after the transitions (-want +got):\n%s", diff)
		}
	})

	t.Run("filters combine and results come by ascending id", func(t *testing.T) {
		s := newStore(t)
		a1 := create(t, s, restriction("device:02:00:00:00:00:01"))
		b := create(t, s, restriction("person:resident"))
		a2 := restriction("device:02:00:00:00:00:01")
		a2.Lifted, a2.LiftedBy, a2.LiftReason = t0.Add(time.Minute), "bob", "done"
		create(t, s, a2)
		a3 := create(t, s, restriction("device:02:00:00:00:00:01"))
		v6 := create(t, s, restriction("ip:2001:db8:99::/64"))

		dev, v6subj, other := mustSubject("device:02:00:00:00:00:01"), mustSubject("ip:2001:db8:99::/64"), mustSubject("device:02:00:00:00:00:77")
		tests := []struct {
			name string
			f    curfew.RestrictionFilter
			want []curfew.RestrictionID
		}{
			{"zero filter: the open ones", curfew.RestrictionFilter{}, []curfew.RestrictionID{a1.ID, b.ID, a3.ID, v6.ID}},
			{"all", curfew.RestrictionFilter{All: true}, []curfew.RestrictionID{a1.ID, b.ID, a2.ID, a3.ID, v6.ID}},
			{"one subject, open", curfew.RestrictionFilter{Subject: &dev}, []curfew.RestrictionID{a1.ID, a3.ID}},
			{"one subject, all", curfew.RestrictionFilter{All: true, Subject: &dev}, []curfew.RestrictionID{a1.ID, a2.ID, a3.ID}},
			{"an IPv6 prefix subject", curfew.RestrictionFilter{Subject: &v6subj}, []curfew.RestrictionID{v6.ID}},
			{"a subject without restrictions", curfew.RestrictionFilter{All: true, Subject: &other}, []curfew.RestrictionID{}},
			{"one id", curfew.RestrictionFilter{ID: &b.ID}, []curfew.RestrictionID{b.ID}},
			{"a lifted id, open", curfew.RestrictionFilter{ID: &a2.ID}, []curfew.RestrictionID{}},
			{"a lifted id, all", curfew.RestrictionFilter{All: true, ID: &a2.ID}, []curfew.RestrictionID{a2.ID}},
			{"an id of another subject", curfew.RestrictionFilter{All: true, ID: &b.ID, Subject: &dev}, []curfew.RestrictionID{}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				rs, err := s.Restrictions(t.Context(), tt.f)
				if err != nil {
					t.Fatalf("Restrictions(%+v) = %v", tt.f, err)
				}
				if diff := cmp.Diff(tt.want, ids(rs)); diff != "" {
					t.Errorf("Restrictions(%+v) (-want +got):\n%s", tt.f, diff)
				}
			})
		}
	})

	t.Run("an unknown id is not found and changes nothing", func(t *testing.T) {
		s := newStore(t)
		r := create(t, s, restriction("device:02:00:00:00:00:01"))
		n := auditLen(t, s)
		missing := r.ID + 1000
		if _, err := s.Restriction(t.Context(), missing); !errors.Is(err, curfew.ErrNotFound) {
			t.Errorf("Restriction(%d) = %v, want ErrNotFound", missing, err)
		}
		ghost := restriction("device:02:00:00:00:00:02")
		ghost.ID = missing
		ghost.Lifted, ghost.LiftedBy, ghost.LiftReason = t0, "bob", "x"
		a := entry("bob", curfew.ActionLift, strconv.FormatInt(int64(missing), 10))
		if err := s.UpdateRestriction(t.Context(), ghost, a); !errors.Is(err, curfew.ErrNotFound) {
			t.Errorf("UpdateRestriction(%d) = %v, want ErrNotFound", missing, err)
		}
		if a.Seq != 0 || !a.Prev.IsZero() {
			t.Errorf("the audit event of a refused update was filled in: %+v", a)
		}
		wantUnchangedAudit(t, s, n, "an update of an unknown restriction")
		if rs, _ := s.Restrictions(t.Context(), curfew.RestrictionFilter{All: true}); len(rs) != 1 {
			t.Errorf("Restrictions(All) = %d restrictions, want the one created", len(rs))
		}
	})

	t.Run("a restriction without a subject is invalid", func(t *testing.T) {
		s := newStore(t)
		r := restriction("device:02:00:00:00:00:01")
		r.Subject = curfew.Subject{}
		if err := s.CreateRestriction(t.Context(), r, entry("alice", curfew.ActionRestrict, "")); !errors.Is(err, curfew.ErrInvalid) {
			t.Errorf("CreateRestriction(no subject) = %v, want ErrInvalid", err)
		}
		if r.ID != 0 {
			t.Errorf("refused restriction got ID %d", r.ID)
		}
		wantUnchangedAudit(t, s, 0, "a refused restriction")
	})
}
