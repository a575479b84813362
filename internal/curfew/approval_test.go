package curfew_test

import (
	"errors"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/google/go-cmp/cmp"
)

func TestApprovalPolicyRequires(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		name   string
		policy *curfew.ApprovalPolicy
		mode   curfew.Mode
		length time.Duration
		want   bool
	}{
		{"no policy", nil, curfew.ModeCutoff, 30 * day, false},
		{"off", &curfew.ApprovalPolicy{RequiredOver: day}, curfew.ModeCutoff, 30 * day, false},
		{"shorter", &curfew.ApprovalPolicy{Enabled: true, RequiredOver: day}, curfew.ModeCutoff, time.Hour, false},
		{"exactly the limit", &curfew.ApprovalPolicy{Enabled: true, RequiredOver: day}, curfew.ModeCutoff, day, false},
		{"longer", &curfew.ApprovalPolicy{Enabled: true, RequiredOver: day}, curfew.ModeCutoff, day + time.Second, true},
		{"every mode by default", &curfew.ApprovalPolicy{Enabled: true, RequiredOver: day}, curfew.ModeBlocklist, 2 * day, true},
		{"a listed mode", &curfew.ApprovalPolicy{Enabled: true, RequiredOver: day, Modes: []curfew.Mode{curfew.ModeCutoff, curfew.ModeAllowlist}}, curfew.ModeAllowlist, 2 * day, true},
		{"an unlisted mode", &curfew.ApprovalPolicy{Enabled: true, RequiredOver: day, Modes: []curfew.Mode{curfew.ModeCutoff, curfew.ModeAllowlist}}, curfew.ModeBlocklist, 2 * day, false},
		{"zero: every restriction", &curfew.ApprovalPolicy{Enabled: true}, curfew.ModeCutoff, time.Minute, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.policy.Requires(tt.mode, t0, t0.Add(tt.length)); got != tt.want {
				t.Errorf("Requires(%s, %s) = %v, want %v", tt.mode, tt.length, got, tt.want)
			}
		})
	}
}

// pending returns a cutoff restriction from t0 to t0+1h that waits for a
// second operator, asked for by alice.
func pending() *curfew.Restriction {
	r := rs(7, "device:02:00:00:00:00:01", 0, 60)
	r.Author = "alice"
	r.Approval = curfew.Approval{State: curfew.ApprovalPending, Asker: "alice"}
	return r
}

func TestApprovalStatusAt(t *testing.T) {
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	approved := pending()
	if err := approved.Decide(at(10), "bob", true, "agreed"); err != nil {
		t.Fatal(err)
	}
	rejected := pending()
	if err := rejected.Decide(at(10), "bob", false, "disproportionate"); err != nil {
		t.Fatal(err)
	}
	rejectedEarly := pending()
	rejectedEarly.Start, rejectedEarly.End = at(30), at(90)
	if err := rejectedEarly.Decide(at(10), "bob", false, "no"); err != nil {
		t.Fatal(err)
	}
	withdrawn := pending()
	withdrawn.Lifted, withdrawn.LiftedBy = at(5), "alice"
	extension := rs(8, "device:02:00:00:00:00:01", 0, 60)
	extension.RequestExtension("carol", at(600))
	scheduled := pending()
	scheduled.Start, scheduled.End = at(30), at(90)
	if err := scheduled.Decide(at(10), "bob", true, "ok"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		r      *curfew.Restriction
		at     int
		want   curfew.Status
		active bool
		over   bool
	}{
		{"pending before its start", func() *curfew.Restriction { r := pending(); r.Start, r.End = at(30), at(90); return r }(), 0, curfew.StatusPending, false, false},
		{"pending inside its window is not enforced", pending(), 10, curfew.StatusPending, false, false},
		{"pending at its end expires without having applied", pending(), 60, curfew.StatusExpired, false, true},
		{"approved", approved, 20, curfew.StatusActive, true, false},
		{"approved, at its end", approved, 60, curfew.StatusExpired, false, true},
		{"approved before its start is scheduled", scheduled, 20, curfew.StatusScheduled, false, false},
		{"approved, then started", scheduled, 30, curfew.StatusActive, true, false},
		{"rejected", rejected, 20, curfew.StatusRejected, false, true},
		{"rejected stays rejected after its end", rejected, 90, curfew.StatusRejected, false, true},
		{"rejected before its start", rejectedEarly, 40, curfew.StatusRejected, false, true},
		{"withdrawn while pending", withdrawn, 10, curfew.StatusLifted, false, true},
		{"an extension waits: enforced until its current end", extension, 30, curfew.StatusActive, true, false},
		{"an extension waits: its current end still ends it", extension, 60, curfew.StatusExpired, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := at(tt.at)
			if got := tt.r.StatusAt(now); got != tt.want {
				t.Errorf("StatusAt(+%dm) = %v, want %v", tt.at, got, tt.want)
			}
			if got := tt.r.ActiveAt(now); got != tt.active {
				t.Errorf("ActiveAt(+%dm) = %v, want %v", tt.at, got, tt.active)
			}
			if got := tt.r.Over(now); got != tt.over {
				t.Errorf("Over(+%dm) = %v, want %v", tt.at, got, tt.over)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	now := t0.Add(10 * time.Minute)
	tests := []struct {
		name    string
		r       func() *curfew.Restriction
		actor   string
		approve bool
		wantErr error
		want    func(r *curfew.Restriction) // the restriction after a successful decision
	}{
		{"a second operator approves", pending, "bob", true, nil, func(r *curfew.Restriction) {
			r.Approval = curfew.Approval{State: curfew.ApprovalApproved, Asker: "alice", Decided: now, By: "bob", Reason: "why"}
		}},
		{"a second operator rejects", pending, "bob", false, nil, func(r *curfew.Restriction) {
			r.Approval = curfew.Approval{State: curfew.ApprovalRejected, Asker: "alice", Decided: now, By: "bob", Reason: "why"}
		}},
		{"the author may not approve their own", pending, "alice", true, curfew.ErrForbidden, nil},
		{"the author may withdraw their own", pending, "alice", false, nil, func(r *curfew.Restriction) {
			r.Approval = curfew.Approval{State: curfew.ApprovalRejected, Asker: "alice", Decided: now, By: "alice", Reason: "why"}
		}},
		{"nothing waits", func() *curfew.Restriction { return rs(7, "person:x", 0, 60) }, "bob", true, curfew.ErrConflict, nil},
		{"already approved", func() *curfew.Restriction {
			r := pending()
			r.Decide(t0, "bob", true, "ok")
			return r
		}, "carol", true, curfew.ErrConflict, nil},
		{"already rejected", func() *curfew.Restriction {
			r := pending()
			r.Decide(t0, "bob", false, "no")
			return r
		}, "carol", true, curfew.ErrConflict, nil},
		{"lifted while pending", func() *curfew.Restriction {
			r := pending()
			r.Lifted = t0
			return r
		}, "bob", true, curfew.ErrConflict, nil},
		{"its end passed while pending", func() *curfew.Restriction {
			r := pending()
			r.End = now
			return r
		}, "bob", true, curfew.ErrConflict, nil},
		{"an extension approved moves the end", func() *curfew.Restriction {
			r := rs(7, "person:x", 0, 60)
			r.RequestExtension("carol", t0.Add(48*time.Hour))
			return r
		}, "alice", true, nil, func(r *curfew.Restriction) {
			r.End = t0.Add(48 * time.Hour)
			r.Approval = curfew.Approval{State: curfew.ApprovalApproved, Asker: "carol", ExtendTo: t0.Add(48 * time.Hour), Decided: now, By: "alice", Reason: "why"}
		}},
		{"an extension rejected leaves the end", func() *curfew.Restriction {
			r := rs(7, "person:x", 0, 60)
			r.RequestExtension("carol", t0.Add(48*time.Hour))
			return r
		}, "alice", false, nil, func(r *curfew.Restriction) {
			r.Approval = curfew.Approval{State: curfew.ApprovalRejected, Asker: "carol", ExtendTo: t0.Add(48 * time.Hour), Decided: now, By: "alice", Reason: "why"}
		}},
		{"the extender may not approve their own extension", func() *curfew.Restriction {
			r := rs(7, "person:x", 0, 60)
			r.RequestExtension("carol", t0.Add(48*time.Hour))
			return r
		}, "carol", true, curfew.ErrForbidden, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.r()
			before := *r
			err := r.Decide(now, tt.actor, tt.approve, " why ")
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Decide() = %v, want %v", err, tt.wantErr)
				}
				if diff := cmp.Diff(before.Approval, r.Approval); diff != "" || !r.End.Equal(before.End) {
					t.Errorf("a refused decision changed the restriction: end %v → %v, approval (-before +after):\n%s", before.End, r.End, diff)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decide() = %v", err)
			}
			want := before
			tt.want(&want)
			if diff := cmp.Diff(want.Approval, r.Approval); diff != "" {
				t.Errorf("approval after Decide (-want +got):\n%s", diff)
			}
			if !r.End.Equal(want.End) {
				t.Errorf("end after Decide = %v, want %v", r.End, want.End)
			}
			if err := r.Validate(); err != nil {
				t.Errorf("Validate() after Decide = %v", err)
			}
		})
	}
}

func TestDecideOwnMessage(t *testing.T) {
	err := pending().Decide(t0, "alice", true, "mine")
	want := "forbidden: restriction 7 was asked for by alice; it needs approval by an operator other than alice"
	if err == nil || err.Error() != want {
		t.Errorf("Decide() by the author = %v, want %q", err, want)
	}
}

func TestExtendPending(t *testing.T) {
	if _, err := pending().ExtendedEnd(t0, time.Time{}, time.Hour); !errors.Is(err, curfew.ErrConflict) {
		t.Errorf("ExtendedEnd() of a pending restriction = %v, want ErrConflict", err)
	}
	r := pending()
	r.Decide(t0, "bob", false, "no")
	if _, err := r.ExtendedEnd(t0.Add(time.Minute), time.Time{}, time.Hour); !errors.Is(err, curfew.ErrConflict) {
		t.Errorf("ExtendedEnd() of a rejected restriction = %v, want ErrConflict", err)
	}
}

// Restrictions that wait for a second operator, or were refused by one,
// are not enforced and do not lengthen the run of those that are.
func TestComputeApprovals(t *testing.T) {
	at := t0.Add(10 * time.Minute)
	block := rs(1, "device:02:00:00:00:00:01", 0, 60)
	block.Mode, block.Block = curfew.ModeBlocklist, []string{"social.example"}
	waiting := rs(2, "device:02:00:00:00:00:01", 0, 120) // a stricter cutoff, pending
	waiting.Approval = curfew.Approval{State: curfew.ApprovalPending, Asker: "alice"}
	refused := rs(3, "device:02:00:00:00:00:02", 0, 120)
	refused.Approval = curfew.Approval{State: curfew.ApprovalPending, Asker: "alice"}
	if err := refused.Decide(t0.Add(5*time.Minute), "bob", false, "no"); err != nil {
		t.Fatal(err)
	}
	after := rs(4, "device:02:00:00:00:00:01", 60, 180) // pending, starting where block ends
	after.Mode, after.Block = curfew.ModeBlocklist, []string{"video.example"}
	after.Approval = curfew.Approval{State: curfew.ApprovalPending, Asker: "alice"}

	got := curfew.Compute(at, []*curfew.Restriction{block, waiting, refused, after}, nil).String()
	want := "device 02:00:00:00:00:01 blocklist until=2026-03-01T22:00:00Z ids=[1] block=[social.example]\n" +
		"next 2026-03-01T22:00:00Z\n"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Compute() (-want +got):\n%s", diff)
	}
	s := curfew.Compute(at, []*curfew.Restriction{block, waiting, after}, nil)
	if e := s.Devices[0].Enforcement; !e.RestrictedUntil.Equal(t0.Add(time.Hour)) {
		t.Errorf("RestrictedUntil = %v, want the end of the one enforced restriction, %v", e.RestrictedUntil, t0.Add(time.Hour))
	}

	approved := *waiting
	if err := approved.Decide(at, "bob", true, "ok"); err != nil {
		t.Fatal(err)
	}
	got = curfew.Compute(at, []*curfew.Restriction{block, &approved}, nil).String()
	want = "device 02:00:00:00:00:01 cutoff until=2026-03-01T23:00:00Z ids=[1 2]\n" +
		"next 2026-03-01T22:00:00Z\n"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Compute() after approval (-want +got):\n%s", diff)
	}
}

func TestApprovalWaiting(t *testing.T) {
	r := pending()
	if got, want := r.Approval.Waiting(), "needs approval by an operator other than alice"; got != want {
		t.Errorf("Waiting() = %q, want %q", got, want)
	}
	x := rs(8, "person:x", 0, 60)
	x.RequestExtension("carol", t0.Add(48*time.Hour))
	if got, want := x.Approval.Waiting(), "extension to 2026-03-03T21:00:00Z needs approval by an operator other than carol"; got != want {
		t.Errorf("Waiting() = %q, want %q", got, want)
	}
	r.Decide(t0, "bob", true, "ok")
	if got := r.Approval.Waiting(); got != "" {
		t.Errorf("Waiting() once decided = %q, want empty", got)
	}
}
