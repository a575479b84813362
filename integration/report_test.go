//go:build integration

package integration

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/api"
	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/lab"
)

// TestReport checks the public report of a period in which a device was
// cut off and lifted early, a person put under a blocklist, and an
// address's restriction rejected by a second operator: the counts and the
// notices are right, its checkpoint is the head of the audit log, and it
// names none of the reasons, MACs, addresses, persons or operators, unless
// asked to.
func TestReport(t *testing.T) {
	t.Parallel()
	g := newGatewayWith(t, lab.Config{Approvals: lab.Approvals{RequiredOver: "24h"}})
	c1, c2 := g.Clients[0], g.Clients[1]
	today := time.Now()
	from, to := today.Format("2006-01-02"), today.AddDate(0, 0, 1).Format("2006-01-02")
	bob := strings.TrimSpace(g.mustCurfew("token", "create", "--name", "bob", "--role", "operator"))
	g.mustCurfew("person", "add", "amira.haddad")

	cut := strings.TrimSpace(g.mustCurfew("restrict", device(c1), "--for", "10m",
		"--reason", "integration: report reason one", "--notice", "Your access is paused while the review runs."))
	g.mustCurfew("restrict", "person:amira.haddad", "--for", "20m", "--mode", "blocklist", "--block", "example.org",
		"--reason", "integration: report reason two", "--notice", "Video sites are blocked this evening.")
	g.mustCurfew("lift", cut, "--reason", "integration: report lift reason")
	wide := strings.TrimSpace(g.mustCurfew("restrict", "ip:"+c2.V4.String(), "--for", "2d",
		"--reason", "integration: report reason three", "--notice", "Never shown."))
	if _, errOut, code := runCurfew(t, g.APIURL(), bob, "reject", wide, "--reason", "integration: report rejection"); code != 0 {
		t.Fatalf("curfew reject by bob: exit %d: %s", code, errOut)
	}

	report := func(extra ...string) (string, api.Report) {
		t.Helper()
		out := g.mustCurfew(append([]string{"report", "--from", from, "--to", to, "-o", "json"}, extra...)...)
		var rep api.Report
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("decoding curfew report: %v\n%s", err, out)
		}
		return out, rep
	}
	out, rep := report()
	c := rep.Counts
	if c.Total != 3 || c.LiftedEarly != 1 || c.Rejected != 1 || c.Active != 1 || c.ByMode["cutoff"] != 2 || c.ByMode["blocklist"] != 1 || c.ByMode["allowlist"] != 0 {
		t.Errorf("counts = %+v; want 3: one lifted early, one rejected, one active; two cutoff, one blocklist", c)
	}
	for _, notice := range []string{"Your access is paused while the review runs.", "Video sites are blocked this evening.", "Never shown."} {
		if !strings.Contains(out, notice) {
			t.Errorf("report lacks the notice %q:\n%s", notice, out)
		}
	}
	// The report's checkpoint is an event of the log, signed by the
	// gateway's key: a reader checks it against an export.
	es, hs := g.auditEvents(t)
	cp := rep.Checkpoint
	if cp.Seq < 1 || cp.Seq > int64(len(es)) || es[cp.Seq-1].Seq != cp.Seq || hs[cp.Seq-1].String() != cp.Hash || cp.At == nil {
		t.Fatalf("checkpoint = %d %s, want an event of the audit log (%d events)", cp.Seq, cp.Hash, len(es))
	}
	pub, err := g.api.AuditKey(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	sig, err := base64.StdEncoding.DecodeString(cp.Signature)
	if err != nil {
		t.Fatalf("checkpoint signature %q: %v", cp.Signature, err)
	}
	if err := (&audit.Checkpoint{Seq: cp.Seq, Head: hs[cp.Seq-1], At: *cp.At, Sig: sig}).Verify(pub); err != nil {
		t.Errorf("the report's checkpoint does not verify with the gateway's key: %v", err)
	}
	reasons := []string{"report reason one", "report reason two", "report reason three", "report lift reason", "report rejection"}
	identities := []string{c1.MAC.String(), c2.V4.String(), "amira", "admin", "bob"}
	for _, s := range append(reasons, identities...) {
		if strings.Contains(out, s) {
			t.Errorf("the public report contains %q:\n%s", s, out)
		}
	}

	out, _ = report("--include-reasons")
	for _, s := range reasons {
		if !strings.Contains(out, s) {
			t.Errorf("the report with --include-reasons lacks %q:\n%s", s, out)
		}
	}
	for _, s := range identities {
		if strings.Contains(out, s) {
			t.Errorf("the report with --include-reasons contains %q:\n%s", s, out)
		}
	}
	out, _ = report("--include-subjects")
	for _, s := range identities {
		if !strings.Contains(out, s) {
			t.Errorf("the report with --include-subjects lacks %q:\n%s", s, out)
		}
	}

	for _, o := range []string{"md", "html"} {
		out := g.mustCurfew("report", "--from", from, "--to", to, "-o", o)
		if !strings.Contains(out, "Video sites are blocked this evening.") || strings.Contains(out, "report reason") || strings.Contains(out, c1.MAC.String()) {
			t.Errorf("curfew report -o %s: want the notices and no reason or MAC:\n%s", o, out)
		}
	}
}
