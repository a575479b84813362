package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/api"
	"github.com/curfew/curfew/internal/api/apitest"
	"github.com/curfew/curfew/internal/curfew"
	"github.com/google/go-cmp/cmp"
)

// pendingRestriction is sampleRestriction waiting for a second operator,
// asked for by alice.
func pendingRestriction() *curfew.Restriction {
	r := sampleRestriction()
	r.Approval = curfew.Approval{State: curfew.ApprovalPending, Asker: "alice"}
	return r
}

// decide fakes the engine's Approve or Reject with the domain's rules.
func decide(approve bool, r func() *curfew.Restriction) func(ctx context.Context, id curfew.RestrictionID, reason string) (*curfew.Restriction, error) {
	return func(ctx context.Context, id curfew.RestrictionID, reason string) (*curfew.Restriction, error) {
		if id != 12 {
			return nil, fmt.Errorf("%w: restriction %d", curfew.ErrNotFound, id)
		}
		actor, _ := curfew.ActorFrom(ctx)
		x := r()
		if err := x.Decide(now, actor.Name, approve, reason); err != nil {
			return nil, err
		}
		return x, nil
	}
}

func TestApproveAndRejectVerbs(t *testing.T) {
	later := func() *curfew.Restriction {
		r := pendingRestriction()
		r.Start = now.Add(time.Hour)
		return r
	}
	extension := func() *curfew.Restriction {
		r := sampleRestriction()
		r.RequestExtension("carol", now.Add(48*time.Hour))
		return r
	}
	tests := []struct {
		name     string
		svc      *apitest.FakeService
		token    string
		args     []string
		code     int
		stdout   string
		stderr   string
		approval curfew.ApprovalState // for -o json
	}{
		{"approve", &apitest.FakeService{ApproveFunc: decide(true, pendingRestriction)}, "admin-secret",
			[]string{"approve", "12", "--reason", "proportionate"}, 0, "restriction 12 approved; enforced now until 2026-03-01 22:30 UTC\n", "", ""},
		{"approve one that starts later", &apitest.FakeService{ApproveFunc: decide(true, later)}, "admin-secret",
			[]string{"approve", "12", "--reason", "ok"}, 0, "restriction 12 approved; enforced from 2026-03-01 22:00 UTC until 2026-03-01 22:30 UTC\n", "", ""},
		{"approve an extension", &apitest.FakeService{ApproveFunc: decide(true, extension)}, "op-secret",
			[]string{"approve", "12", "--reason", "ok"}, 0, "extension of restriction 12 approved; it now ends 2026-03-03 21:00 UTC\n", "", ""},
		{"approve, json", &apitest.FakeService{ApproveFunc: decide(true, pendingRestriction)}, "admin-secret",
			[]string{"approve", "12", "--reason", "ok", "-o", "json"}, 0, "", "", curfew.ApprovalApproved},
		{"the author's own approval", &apitest.FakeService{ApproveFunc: decide(true, pendingRestriction)}, "op-secret",
			[]string{"approve", "12", "--reason", "mine"}, 1, "",
			"curfew: approve: forbidden: restriction 12 was asked for by alice; it needs approval by an operator other than alice\n", ""},
		{"approve what waits for nothing", &apitest.FakeService{ApproveFunc: decide(true, sampleRestriction)}, "admin-secret",
			[]string{"approve", "12", "--reason", "ok"}, 2, "", "curfew: approve: conflict: restriction 12 is active and waits for no approval\n", ""},
		{"approve an unknown one", &apitest.FakeService{ApproveFunc: decide(true, pendingRestriction)}, "admin-secret",
			[]string{"approve", "13", "--reason", "ok"}, 2, "", "curfew: approve: not found: restriction 13\n", ""},
		{"reject", &apitest.FakeService{RejectFunc: decide(false, pendingRestriction)}, "admin-secret",
			[]string{"reject", "12", "--reason", "disproportionate"}, 0, "restriction 12 rejected; it will never be enforced\n", "", ""},
		{"reject an extension", &apitest.FakeService{RejectFunc: decide(false, extension)}, "admin-secret",
			[]string{"reject", "12", "--reason", "no"}, 0, "extension of restriction 12 rejected; it still ends 2026-03-01 22:30 UTC\n", "", ""},
		{"reject, json", &apitest.FakeService{RejectFunc: decide(false, pendingRestriction)}, "admin-secret",
			[]string{"reject", "-o", "json", "12", "--reason", "no"}, 0, "", "", curfew.ApprovalRejected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.svc)
			h.env["CURFEW_TOKEN"] = tt.token
			code, stdout, stderr := h.run(tt.args...)
			if code != tt.code || stderr != tt.stderr {
				t.Errorf("curfew %s = %d, stderr %q; want %d, %q", strings.Join(tt.args, " "), code, stderr, tt.code, tt.stderr)
			}
			if tt.approval != "" {
				var r api.Restriction
				if err := json.Unmarshal([]byte(stdout), &r); err != nil || r.Approval == nil || r.Approval.State != string(tt.approval) {
					t.Errorf("-o json = %q (%v), want approval state %s", stdout, err, tt.approval)
				}
				return
			}
			if stdout != tt.stdout {
				t.Errorf("stdout = %q, want %q", stdout, tt.stdout)
			}
		})
	}
}

func TestApproveUsageErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"approve", "12"}, "curfew: approve: missing --reason TEXT: approving a restriction needs one"},
		{[]string{"approve", "--reason", "x"}, "curfew: approve: want exactly one restriction ID"},
		{[]string{"approve", "twelve", "--reason", "x"}, `curfew: approve: ID: "twelve" is not a restriction id (a positive integer)`},
		{[]string{"reject", "12", "--reason", " "}, "curfew: reject: missing --reason TEXT: rejecting a restriction needs one"},
		{[]string{"reject", "12", "13", "--reason", "x"}, "curfew: reject: want exactly one restriction ID"},
		{[]string{"restrict", "person:bob", "--from", "2026-03-01T20:00:00Z", "--for", "1h", "--reason", "x"}, "curfew: restrict: --from: 2026-03-01 20:00:00 UTC is not in the future (leave --from out to start now)"},
		{[]string{"restrict", "person:bob", "--from", "2026-03-01", "--for", "1h", "--reason", "x"}, "curfew: restrict: --from: 2026-03-01 00:00:00 UTC is not in the future (leave --from out to start now)"},
		{[]string{"restrict", "person:bob", "--from", "next week", "--for", "1h", "--reason", "x"}, `curfew: restrict: --from: "next week" is not a time (want RFC 3339, "HH:MM", "YYYY-MM-DD HH:MM" or "YYYY-MM-DD")`},
		{[]string{"restrict", "person:bob", "--from", "2026-03-03", "--until", "2026-03-02 08:00", "--reason", "x"}, "curfew: restrict: ends_at 2026-03-02T08:00:00Z is before starts_at 2026-03-03T00:00:00Z"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			svc := &apitest.FakeService{}
			code, stdout, stderr := newHarness(t, svc).run(tt.args...)
			if code != 2 || stdout != "" {
				t.Errorf("exit %d, stdout %q; want 2 and nothing", code, stdout)
			}
			checkOneLine(t, stderr, tt.want)
			if calls := svc.Calls(); len(calls) > 0 {
				t.Errorf("service calls = %v, want none", calls)
			}
		})
	}
}

// --from starts a restriction later; a restriction that waits is
// reported on stderr, its id alone still on stdout.
func TestRestrictFrom(t *testing.T) {
	var got []curfew.RestrictRequest
	svc := &apitest.FakeService{
		RestrictFunc: func(ctx context.Context, req curfew.RestrictRequest) (*curfew.Restriction, error) {
			if k, _ := curfew.RequestKeyFrom(ctx); len(k.Key) < 20 {
				t.Errorf("restrict sent idempotency key %q, want a random one", k.Key)
			}
			got = append(got, req)
			r := sampleRestriction()
			if req.For > 24*time.Hour {
				r.Approval = curfew.Approval{State: curfew.ApprovalPending, Asker: "alice"}
			}
			return r, nil
		},
	}
	h := newHarness(t, svc)
	tests := []struct {
		args   []string
		want   curfew.RestrictRequest
		stderr string
	}{
		{[]string{"restrict", "person:bob", "--from", "23:00", "--for", "1h", "--reason", "r"},
			curfew.RestrictRequest{Subject: "person:bob", Mode: curfew.ModeCutoff, Reason: "r", Start: time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC), For: time.Hour}, ""},
		{[]string{"restrict", "person:bob", "--from", "2026-03-05", "--until", "2026-03-05 18:00", "--reason", "r"},
			curfew.RestrictRequest{Subject: "person:bob", Mode: curfew.ModeCutoff, Reason: "r", Start: time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 3, 5, 18, 0, 0, 0, time.UTC)}, ""},
		{[]string{"restrict", "person:bob", "--from", "2026-03-02T08:00:00+01:00", "--for", "3d", "--reason", "r"},
			curfew.RestrictRequest{Subject: "person:bob", Mode: curfew.ModeCutoff, Reason: "r", Start: time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC), For: 72 * time.Hour},
			"restriction 12 is pending, not enforced: it needs approval by an operator other than alice (curfew approve 12 --reason TEXT)\n"},
	}
	for _, tt := range tests {
		got = nil
		code, stdout, stderr := h.run(tt.args...)
		if code != 0 || stdout != "12\n" || stderr != tt.stderr {
			t.Errorf("curfew %s = %d %q %q, want 0, the id alone and %q", strings.Join(tt.args, " "), code, stdout, stderr, tt.stderr)
		}
		if len(got) != 1 {
			t.Fatalf("Restrict called %d times, want once", len(got))
		}
		if diff := cmp.Diff(tt.want, got[0]); diff != "" {
			t.Errorf("curfew %s: request (-want +got):\n%s", strings.Join(tt.args, " "), diff)
		}
	}
}

// list says, under its table, who must act on each restriction that
// waits; show says it too, and how one was decided.
func TestListAndShowApprovals(t *testing.T) {
	extension := sampleRestriction()
	extension.ID = 14
	extension.RequestExtension("carol", now.Add(48*time.Hour))
	approved := pendingRestriction()
	approved.ID = 15
	if err := approved.Decide(now.Add(-time.Minute), "bob", true, "agreed"); err != nil {
		t.Fatal(err)
	}
	byID := map[curfew.RestrictionID]*curfew.Restriction{12: pendingRestriction(), 14: extension, 15: approved}
	svc := &apitest.FakeService{
		RestrictionsFunc: func(context.Context, curfew.RestrictionFilter) ([]*curfew.Restriction, error) {
			return []*curfew.Restriction{byID[12], byID[14], byID[15]}, nil
		},
		RestrictionFunc: func(ctx context.Context, id curfew.RestrictionID) (*curfew.Restriction, error) { return byID[id], nil },
	}
	h := newHarness(t, svc)
	code, stdout, _ := h.run("list")
	want := `ID  SUBJECT                   MODE    STATUS   ENDS                  REASON
12  device:02:00:00:00:00:01  cutoff  pending  2026-03-01 22:30 UTC  exam week
14  device:02:00:00:00:00:01  cutoff  active   2026-03-01 22:30 UTC  exam week
15  device:02:00:00:00:00:01  cutoff  active   2026-03-01 22:30 UTC  exam week

Waiting for a second operator:
  12  needs approval by an operator other than alice                                    (curfew approve 12 --reason TEXT, or reject)
  14  extension to 2026-03-03 21:00 UTC needs approval by an operator other than carol  (curfew approve 14 --reason TEXT, or reject)
`
	if code != 0 {
		t.Fatalf("list: exit %d", code)
	}
	if diff := cmp.Diff(want, stdout); diff != "" {
		t.Errorf("list (-want +got):\n%s", diff)
	}

	for id, want := range map[int]string{
		12: "approval:  needs approval by an operator other than alice\n",
		14: "approval:  extension to 2026-03-03 21:00 UTC needs approval by an operator other than carol\n",
		15: "approval:         approved 2026-03-01 20:59 UTC by bob (asked for by alice)\napproval reason:  agreed\n",
	} {
		code, stdout, _ := h.run("show", fmt.Sprint(id))
		if code != 0 || !strings.HasSuffix(stdout, want) {
			t.Errorf("show %d = %d:\n%s\nwant it to end with:\n%s", id, code, stdout, want)
		}
	}
	code, stdout, _ = h.run("show", "12", "-o", "json")
	var r api.Restriction
	if err := json.Unmarshal([]byte(stdout), &r); err != nil || code != 0 || r.Status != "pending" || r.Approval == nil || r.Approval.AskedBy != "alice" {
		t.Errorf("show -o json = %d %q (%v), want status pending asked for by alice", code, stdout, err)
	}
}
