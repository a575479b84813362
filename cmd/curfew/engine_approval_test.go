package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/api"
	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/engine"
)

// TestFourEyesAgainstEngine drives approve and reject through the CLI, the
// API and the real engine with approvals configured: the author's own
// approval exits 1 and changes nothing, a second operator's enforces, a
// rejected restriction is never enforced, and an extension past
// required_over waits.
func TestFourEyesAgainstEngine(t *testing.T) {
	ctx := t.Context()
	f := newDaemonFixture(t, engine.Config{Approvals: curfew.ApprovalPolicy{Enabled: true, RequiredOver: 24 * time.Hour}}, nil)
	db, mem, admin := f.db, f.mem, f.admin
	env := map[string]string{"CURFEW_SERVER": f.url, "CURFEW_TOKEN": admin}
	as := func(token string, args ...string) (int, string, string) {
		t.Helper()
		env["CURFEW_TOKEN"] = token
		var stdout, stderr strings.Builder
		code := run(args, strings.NewReader(""), &stdout, &stderr, func(k string) string { return env[k] })
		return code, stdout.String(), stderr.String()
	}
	must := func(token string, args ...string) string {
		t.Helper()
		code, stdout, stderr := as(token, args...)
		if code != 0 {
			t.Fatalf("curfew %s = %d, stderr %q", strings.Join(args, " "), code, stderr)
		}
		return stdout
	}
	alice := strings.TrimSpace(must(admin, "token", "create", "--name", "alice", "--role", "operator"))
	bob := strings.TrimSpace(must(admin, "token", "create", "--name", "bob", "--role", "operator"))
	viewer := strings.TrimSpace(must(admin, "token", "create", "--name", "victor", "--role", "viewer"))
	restricted := func(mac byte) bool {
		_, ok := mem.LookupMAC([]byte{2, 0, 0, 0, 0, mac})
		return ok
	}
	show := func(id string) api.Restriction {
		t.Helper()
		var r api.Restriction
		if err := json.Unmarshal([]byte(must(admin, "show", id, "-o", "json")), &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	auditLen := func() int {
		head, err := db.AuditHead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return int(head.Seq)
	}

	id := strings.TrimSpace(must(alice, "restrict", "device:02:00:00:00:00:01", "--for", "2d", "--reason", "repeated abuse"))
	if r := show(id); r.Status != "pending" || restricted(1) {
		t.Fatalf("a 2-day restriction: status %q, enforced %v; want pending and not enforced", r.Status, restricted(1))
	}
	before := auditLen()
	for _, who := range []struct{ name, token, want string }{
		{"its author", alice, "curfew: approve: forbidden: restriction 1 was asked for by alice; it needs approval by an operator other than alice\n"},
		{"a viewer", viewer, "curfew: approve: forbidden: operator \"victor\" has role viewer; approve needs operator\n"},
	} {
		code, stdout, stderr := as(who.token, "approve", id, "--reason", "fine by me")
		if code != 1 || stdout != "" || stderr != who.want {
			t.Errorf("approve by %s = %d %q %q, want 1 and %q", who.name, code, stdout, stderr, who.want)
		}
	}
	if r := show(id); r.Status != "pending" || restricted(1) || auditLen() != before {
		t.Errorf("after refused approvals: status %q, enforced %v, %d new audit entries; want pending, not enforced, none", r.Status, restricted(1), auditLen()-before)
	}
	if out := must(viewer, "list"); !strings.Contains(out, "needs approval by an operator other than alice") {
		t.Errorf("list does not say who must act:\n%s", out)
	}
	must(bob, "approve", id, "--reason", "proportionate")
	if r := show(id); r.Status != "active" || !restricted(1) || r.Approval.DecidedBy != "bob" {
		t.Errorf("after bob's approval: status %q, enforced %v, approval %+v; want active, enforced, decided by bob", r.Status, restricted(1), r.Approval)
	}

	id2 := strings.TrimSpace(must(alice, "restrict", "device:02:00:00:00:00:02", "--for", "3d", "--reason", "noise"))
	must(bob, "reject", id2, "--reason", "disproportionate")
	if r := show(id2); r.Status != "rejected" || restricted(2) {
		t.Errorf("after rejection: status %q, enforced %v; want rejected, never enforced", r.Status, restricted(2))
	}
	if code, _, _ := as(admin, "approve", id2, "--reason", "on second thoughts"); code != 2 {
		t.Errorf("approving a rejected restriction = %d, want 2", code)
	}

	// Restricting for an hour, then extending to a month, waits too.
	id3 := strings.TrimSpace(must(alice, "restrict", "device:02:00:00:00:00:03", "--for", "1h", "--reason", "short"))
	end := show(id3).EndsAt
	if out := must(alice, "extend", id3, "--for", "30d", "--reason", "longer"); !strings.Contains(out, "needs approval by an operator other than alice") {
		t.Errorf("extend past required_over printed %q, want it to say it waits", out)
	}
	if r := show(id3); !r.EndsAt.Equal(end) || r.Approval == nil || r.Approval.State != "pending" || !restricted(3) {
		t.Errorf("after the extension: ends %v (was %v), approval %+v, enforced %v; want the end unchanged, pending, still enforced", r.EndsAt, end, r.Approval, restricted(3))
	}
	if code, _, _ := as(alice, "approve", id3, "--reason", "mine"); code != 1 {
		t.Errorf("the extender approving their own extension = %d, want 1", code)
	}
	must(bob, "approve", id3, "--reason", "ok")
	if r := show(id3); !r.EndsAt.Equal(end.Add(30 * 24 * time.Hour)) {
		t.Errorf("after approving the extension: ends %v, want %v", r.EndsAt, end.Add(30*24*time.Hour))
	}
	if out := must(admin, "audit", "verify"); !strings.HasPrefix(out, "audit log intact") {
		t.Errorf("audit verify = %q", out)
	}
	out := must(admin, "audit")
	for _, action := range []string{"restriction.approved", "restriction.rejected"} {
		if !strings.Contains(out, action) {
			t.Errorf("audit lacks %s:\n%s", action, out)
		}
	}
}
