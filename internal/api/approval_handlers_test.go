package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/curfew/curfew/internal/api"
	"github.com/curfew/curfew/internal/api/apitest"
	"github.com/curfew/curfew/internal/curfew"
	"github.com/google/go-cmp/cmp"
)

// waiting returns sampleRestriction as it waits for a second operator,
// asked for by alice.
func waiting() *curfew.Restriction {
	r := sampleRestriction()
	r.Approval = curfew.Approval{State: curfew.ApprovalPending, Asker: "alice"}
	return r
}

// decider fakes the engine's Approve and Reject with the domain's rules
// and records the calls' arguments.
type decider struct {
	ids     []curfew.RestrictionID
	reasons []string
}

func (d *decider) decide(approve bool) func(ctx context.Context, id curfew.RestrictionID, reason string) (*curfew.Restriction, error) {
	return func(ctx context.Context, id curfew.RestrictionID, reason string) (*curfew.Restriction, error) {
		d.ids, d.reasons = append(d.ids, id), append(d.reasons, reason)
		if id != 7 {
			return nil, fmt.Errorf("%w: restriction %d", curfew.ErrNotFound, id)
		}
		actor, _ := curfew.ActorFrom(ctx)
		r := waiting()
		if err := r.Decide(now, actor.Name, approve, reason); err != nil {
			return nil, err
		}
		return r, nil
	}
}

func TestApproveAndReject(t *testing.T) {
	var d decider
	svc := &apitest.FakeService{ApproveFunc: d.decide(true), RejectFunc: d.decide(false)}
	h := newHandler(t, svc, nil)
	tests := []struct {
		name, path, token, body string
		wantStatus              int
		wantCode                string // of an error answer
		wantState, wantStatusOf string // of a restriction answer
	}{
		{"a second operator approves", "/api/v1/restrictions/7/approve", "admin-secret", `{"reason":"agreed"}`, 200, "", "approved", "active"},
		{"a second operator rejects", "/api/v1/restrictions/7/reject", "admin-secret", `{"reason":"no"}`, 200, "", "rejected", "rejected"},
		{"the author approves their own", "/api/v1/restrictions/7/approve", "op-secret", `{"reason":"mine"}`, 403, "forbidden", "", ""},
		{"the author withdraws their own", "/api/v1/restrictions/7/reject", "op-secret", `{"reason":"mistake"}`, 200, "", "rejected", "rejected"},
		{"unknown restriction", "/api/v1/restrictions/8/approve", "admin-secret", `{"reason":"x"}`, 404, "not_found", "", ""},
		{"bad id", "/api/v1/restrictions/seven/approve", "admin-secret", `{"reason":"x"}`, 400, "invalid", "", ""},
		{"unknown field", "/api/v1/restrictions/7/reject", "admin-secret", `{"reason":"x","why":"y"}`, 400, "invalid", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := call(t, h, "POST", tt.path, tt.token, tt.body)
			if status != tt.wantStatus {
				t.Fatalf("POST %s = %d, want %d; body %s", tt.path, status, tt.wantStatus, body)
			}
			if tt.wantCode != "" {
				if e := decodeError(t, body); e.Code != tt.wantCode {
					t.Errorf("error code = %q, want %q (%s)", e.Code, tt.wantCode, e.Detail)
				}
				return
			}
			var r api.Restriction
			if err := json.Unmarshal([]byte(body), &r); err != nil {
				t.Fatal(err)
			}
			if r.Status != tt.wantStatusOf || r.Approval == nil || r.Approval.State != tt.wantState || r.Approval.AskedBy != "alice" || r.Approval.DecidedAt == nil {
				t.Errorf("answer = status %q, approval %+v; want status %q, approval %s asked by alice and decided", r.Status, r.Approval, tt.wantStatusOf, tt.wantState)
			}
		})
	}
	if want := []string{"agreed", "no", "mine", "mistake", "x"}; !cmp.Equal(want, d.reasons) {
		t.Errorf("reasons seen by the service = %q, want %q", d.reasons, want)
	}
}

// The JSON of a restriction that waits shows it: status pending, and who
// asked; one that needed no approval has "approval": null.
func TestApprovalJSON(t *testing.T) {
	b, err := json.Marshal(api.RestrictionToAPI(waiting(), now))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"status":"pending"`, `"approval":{"state":"pending","asked_by":"alice","extend_to":null,"decided_at":null,"decided_by":"","reason":""}`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON %s lacks %s", b, want)
		}
	}
	b, err = json.Marshal(api.RestrictionToAPI(sampleRestriction(), now))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"approval":null`) || !strings.Contains(string(b), `"status":"active"`) {
		t.Errorf("JSON of a restriction without approval = %s, want approval null and status active", b)
	}
}

// A viewer is refused approve and reject before its request is read.
func TestApproveNeedsOperator(t *testing.T) {
	svc := &apitest.FakeService{}
	h := newHandler(t, svc, nil)
	for _, path := range []string{"/api/v1/restrictions/7/approve", "/api/v1/restrictions/7/reject", "/api/v1/restrictions/seven/approve"} {
		for _, body := range []string{`{"reason":"r"}`, `{"reason":1}`} {
			status, resp := call(t, h, "POST", path, "viewer-secret", body)
			if status != http.StatusForbidden || decodeError(t, resp).Code != "forbidden" {
				t.Errorf("viewer POST %s %s = %d %s, want 403 forbidden", path, body, status, resp)
			}
		}
	}
	if calls := svc.Calls(); len(calls) != 0 {
		t.Errorf("service calls = %v, want none", calls)
	}
}

// The client carries approve and reject, and the approval state, both
// ways; the author's own approval comes back as ErrForbidden.
func TestClientApprovals(t *testing.T) {
	var d decider
	svc := &apitest.FakeService{
		ApproveFunc: d.decide(true),
		RejectFunc:  d.decide(false),
		RestrictionFunc: func(ctx context.Context, id curfew.RestrictionID) (*curfew.Restriction, error) {
			r := waiting()
			r.RequestExtension("carol", now.Add(48*3600e9))
			return r, nil
		},
	}
	ctx := t.Context()
	if _, err := newClient(t, svc, "op-secret").Approve(ctx, 7, "mine"); !errors.Is(err, curfew.ErrForbidden) {
		t.Errorf("Approve by the author = %v, want ErrForbidden", err)
	}
	c := newClient(t, svc, "admin-secret")
	r, err := c.Approve(ctx, 7, "agreed")
	if err != nil {
		t.Fatalf("Approve = %v", err)
	}
	want := curfew.Approval{State: curfew.ApprovalApproved, Asker: "alice", Decided: now, By: "root", Reason: "agreed"}
	if diff := cmp.Diff(want, r.Approval); diff != "" {
		t.Errorf("Approve approval (-want +got):\n%s", diff)
	}
	if r, err = c.Reject(ctx, 7, "no"); err != nil || r.StatusAt(now) != curfew.StatusRejected {
		t.Errorf("Reject = %+v, %v; want rejected", r, err)
	}
	r, err = c.Restriction(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	if want := (curfew.Approval{State: curfew.ApprovalPending, Asker: "carol", ExtendTo: now.Add(48 * 3600e9)}); !cmp.Equal(want, r.Approval) {
		t.Errorf("Restriction approval = %+v, want %+v", r.Approval, want)
	}
}
