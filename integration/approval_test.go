//go:build integration

package integration

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/api"
	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/lab"
)

// TestFourEyes runs four eyes on the lab gateway with approvals configured:
// a restriction longer than required_over is pending and does not cut its
// client; its author's own approval exits 1 and leaves it pending and
// unenforced; a second operator's approval cuts the client within a
// second; a rejected restriction never cuts its client.
func TestFourEyes(t *testing.T) {
	t.Parallel()
	g := newGatewayWith(t, lab.Config{Approvals: lab.Approvals{RequiredOver: "24h"}})
	c1, c2, c3 := g.Clients[0], g.Clients[1], g.Clients[2]
	bob := strings.TrimSpace(g.mustCurfew("token", "create", "--name", "bob", "--role", "operator"))
	asBob := func(args ...string) (string, string, int) { return runCurfew(t, g.APIURL(), bob, args...) }
	show := func(id int64) api.Restriction {
		t.Helper()
		var r api.Restriction
		if err := json.Unmarshal([]byte(g.mustCurfew("show", itoa(id), "-o", "json")), &r); err != nil {
			t.Fatal(err)
		}
		return r
	}

	// Pending: stored and audited, not enforced.
	id, _ := g.restrict(device(c1), "2d", "integration: four eyes")
	if r := show(id); r.Status != "pending" || r.Approval == nil || r.Approval.AskedBy != "admin" {
		t.Fatalf("a 2-day restriction: status %q, approval %+v; want pending, asked for by admin", r.Status, r.Approval)
	}
	checkReach(t, true, c1)
	if out := g.mustCurfew("list"); !strings.Contains(out, "needs approval by an operator other than admin") {
		t.Errorf("curfew list does not say who must act:\n%s", out)
	}

	// The author's own approval fails and changes nothing.
	out, errOut, code := g.curfew("approve", itoa(id), "--reason", "integration: my own")
	if code != 1 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "other than admin") {
		t.Errorf("curfew approve by its author: exit %d, stdout %q, stderr %q; want 1 and one line", code, out, errOut)
	}
	if r := show(id); r.Status != "pending" {
		t.Errorf("after its author's approval: status %q, want pending", r.Status)
	}
	checkReach(t, true, c1)

	// A second operator's approval enforces it within a second.
	if _, errOut, code := asBob("approve", itoa(id), "--reason", "integration: second pair of eyes"); code != 0 {
		t.Fatalf("curfew approve by bob: exit %d: %s", code, errOut)
	}
	approved := time.Now()
	for _, f := range families {
		took, ok := waitUntil(time.Second, 20*time.Millisecond, func() bool { return refused(t.Context(), c1, f.upstream) })
		if !ok {
			t.Errorf("client 1 over %s: not refused %v after bob's approval returned, want within a second", f.name, took)
		}
	}
	t.Logf("client 1 cut off %v after the approval returned", time.Since(approved).Round(time.Millisecond))
	if r := show(id); r.Status != "active" || r.Approval.DecidedBy != "bob" {
		t.Errorf("after bob's approval: status %q, approval %+v; want active, decided by bob", r.Status, r.Approval)
	}
	checkReach(t, false, c1)
	checkReach(t, true, c2, c3)

	// A rejected one never cuts its client: not while it waits, not once
	// rejected, not after the gateway applied later changes.
	id2, _ := g.restrict(device(c2), "3d", "integration: to be rejected")
	checkReach(t, true, c2)
	if _, errOut, code := asBob("reject", itoa(id2), "--reason", "integration: disproportionate"); code != 0 {
		t.Fatalf("curfew reject by bob: exit %d: %s", code, errOut)
	}
	if r := show(id2); r.Status != "rejected" {
		t.Errorf("after rejection: status %q, want rejected", r.Status)
	}
	checkReach(t, true, c2)
	if _, _, code := asBob("approve", itoa(id2), "--reason", "integration: changed my mind"); code != 2 {
		t.Errorf("curfew approve of a rejected restriction: exit %d, want 2", code)
	}
	g.mustCurfew("lift", itoa(id), "--reason", "integration: done")
	for _, f := range families {
		if _, ok := waitUntil(2*time.Second, 20*time.Millisecond, func() bool { return reaches(t.Context(), c1, f.upstream) }); !ok {
			t.Errorf("client 1 over %s: still cut off after lift", f.name)
		}
	}
	checkReach(t, true, c1, c2, c3)
	if ruleset := g.nft("list", "table", "inet", "curfew"); strings.Contains(ruleset, c2.MAC.String()) {
		t.Errorf("the firewall table names client 2, whose only restriction was rejected:\n%s", ruleset)
	}

	es, _ := g.auditEvents(t)
	var got []string
	for _, e := range es {
		if e.Kind == audit.KindRestrictionApproved || e.Kind == audit.KindRestrictionRejected {
			got = append(got, e.Actor+" "+string(e.Kind)+" "+itoa(int64(e.Restriction))+" "+string(e.After.Approval))
		}
	}
	want := []string{"bob restriction.approved " + itoa(id) + " approved", "bob restriction.rejected " + itoa(id2) + " rejected"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audited decisions = %q, want %q", got, want)
	}
	if _, errOut, code := g.curfew("audit", "verify"); code != 0 {
		t.Errorf("curfew audit verify: exit %d: %s", code, errOut)
	}
}
