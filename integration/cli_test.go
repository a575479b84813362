//go:build integration

package integration

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/netnstest"
)

// TestAuditVerifyDetectsEdits checks that `curfew audit verify` passes on
// the log curfew wrote and fails (exit 1) once a row of it was edited in
// the database behind curfew's back.
func TestAuditVerifyDetectsEdits(t *testing.T) {
	t.Parallel()
	sqlite3, err := exec.LookPath("sqlite3")
	if err != nil {
		if os.Getenv(netnstest.RequireEnv) == "1" {
			t.Fatalf("sqlite3 is needed to edit the database (apt-get install sqlite3): %v", err)
		}
		t.Skipf("skipping: sqlite3 is needed to edit the database (apt-get install sqlite3): %v", err)
	}
	g := newGateway(t)
	c1 := g.Clients[0]
	g.mustCurfew("person", "add", "bob")
	id, _ := g.restrict(device(c1), "10m", "integration: audit")
	g.mustCurfew("lift", itoa(id), "--reason", "integration: audit done")

	if out, errOut, code := g.curfew("audit", "verify"); code != 0 {
		t.Fatalf("curfew audit verify on an untouched log: exit %d: %s%s", code, out, errOut)
	}

	dbs, _ := filepath.Glob(filepath.Join(g.StateDir(), "*.db"))
	if len(dbs) != 1 {
		t.Fatalf("want one database in %s, found %v", g.StateDir(), dbs)
	}
	// The triggers that stop accidental edits are put back after the
	// edit: only the row's content changes, as a careful forger would do.
	edit := `
BEGIN;
DROP TRIGGER audit_no_update;
UPDATE audit SET reason = 'nothing happened' WHERE seq = (SELECT max(seq) - 1 FROM audit);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
	SELECT RAISE(ABORT, 'audit entries are append-only');
END;
COMMIT;
SELECT changes();`
	cmd := exec.CommandContext(t.Context(), sqlite3, "-cmd", ".timeout 5000", dbs[0])
	cmd.Stdin = strings.NewReader(edit)
	if out, err := cmd.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "1" {
		t.Fatalf("editing the audit table: %v: %q, want one row changed", err, out)
	}

	out, errOut, code := g.curfew("audit", "verify")
	if code != 1 {
		t.Errorf("curfew audit verify after an edit: exit %d (stdout %q, stderr %q), want 1", code, out, errOut)
	}
	t.Logf("curfew audit verify after the edit: exit %d: %s", code, strings.TrimSpace(out+errOut))
}

// TestCLIUsageErrors checks that bad input exits 2 with one line saying
// what is wrong, and changes nothing.
func TestCLIUsageErrors(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	mac := g.Clients[0].MAC.String()
	g.mustCurfew("person", "add", "carol")

	state := func() string {
		return g.mustCurfew("list", "--all", "-o", "json") + g.mustCurfew("devices", "-o", "json")
	}
	auditLen := func() int {
		es, err := g.api.Audit(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return len(es)
	}
	before, beforeAudit := state(), auditLen()

	tests := []struct {
		name string
		args []string
	}{
		{"bad MAC", []string{"restrict", "device:02:c0:ff:ee:00", "--for", "1h", "--reason", "x"}},
		{"not a MAC", []string{"restrict", "device:banana", "--for", "1h", "--reason", "x"}},
		{"negative duration", []string{"restrict", "device:" + mac, "--for", "-5m", "--reason", "x"}},
		{"zero duration", []string{"restrict", "device:" + mac, "--for", "0s", "--reason", "x"}},
		{"unparsable duration", []string{"restrict", "device:" + mac, "--for", "soon", "--reason", "x"}},
		{"missing duration", []string{"restrict", "device:" + mac, "--reason", "x"}},
		{"missing reason", []string{"restrict", "device:" + mac, "--for", "1h"}},
		{"empty reason", []string{"restrict", "device:" + mac, "--for", "1h", "--reason", ""}},
		{"unknown mode", []string{"restrict", "device:" + mac, "--for", "1h", "--reason", "x", "--mode", "sometimes"}},
		{"unknown person", []string{"restrict", "person:nobody", "--for", "1h", "--reason", "x"}},
		{"unknown subject kind", []string{"restrict", "house:1", "--for", "1h", "--reason", "x"}},
		{"missing subject", []string{"restrict", "--for", "1h", "--reason", "x"}},
		{"device add bad MAC", []string{"device", "add", "02:c0:ff:ee"}},
		{"device add unknown owner", []string{"device", "add", mac, "--owner", "nobody"}},
		{"lift without reason", []string{"lift", "1"}},
		{"lift bad id", []string{"lift", "one", "--reason", "x"}},
		{"unknown verb", []string{"restrain", "device:" + mac}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := g.curfew(tt.args...)
			if code != 2 {
				t.Errorf("curfew %s: exit %d (stderr %q), want 2", strings.Join(tt.args, " "), code, errOut)
			}
			if out != "" {
				t.Errorf("curfew %s: stdout %q, want nothing", strings.Join(tt.args, " "), out)
			}
			if msg := strings.TrimSuffix(errOut, "\n"); msg == "" || strings.Contains(msg, "\n") {
				t.Errorf("curfew %s: stderr %q, want one line saying what is wrong", strings.Join(tt.args, " "), errOut)
			}
		})
	}
	if after := state(); after != before {
		t.Errorf("usage errors changed the state:\nbefore: %s\nafter:  %s", before, after)
	}
	if n := auditLen(); n != beforeAudit {
		t.Errorf("usage errors wrote %d audit entries, want none", n-beforeAudit)
	}
}

// TestAPIRequiresToken checks that the API answers 401 without a valid
// bearer token.
func TestAPIRequiresToken(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	for _, tt := range []struct{ name, auth string }{
		{"no token", ""},
		{"wrong token", "Bearer not-a-curfew-token"},
		{"not bearer", "Basic YWRtaW46YWRtaW4="},
	} {
		for _, path := range []string{"/api/v1/restrictions", "/api/v1/devices", "/api/v1/audit"} {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, g.APIURL()+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s: GET %s = %d, want 401", tt.name, path, resp.StatusCode)
			}
		}
	}
	// Nor can the CLI act without one.
	if _, _, code := runCurfew(t, g.APIURL(), "", "restrict", device(g.Clients[0]), "--for", "1h", "--reason", "x"); code == 0 {
		t.Errorf("curfew restrict without a token succeeded")
	}
	if rs := g.restrictions(true); len(rs) != 0 {
		t.Errorf("restrictions after unauthenticated attempts: %d, want 0", len(rs))
	}
}

// TestLabDemo runs `curfew lab --demo` to completion and checks it leaves
// no namespace behind.
func TestLabDemo(t *testing.T) {
	t.Parallel()
	netnstest.New(t)
	prefix := labPrefix()
	cmd := exec.CommandContext(t.Context(), curfewBin, "lab", "--demo", "--prefix", prefix, "--api", "127.0.0.1:0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("curfew lab --demo: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "Demo done") {
		t.Errorf("curfew lab --demo output does not end the demo:\n%s", out)
	}
	t.Logf("curfew lab --demo:\n%s", out)
	if m, _ := filepath.Glob("/run/netns/" + prefix + "-*"); len(m) != 0 {
		t.Errorf("namespaces left behind: %v", m)
	}
}

// TestLabCleansUpOnHangup runs `curfew lab` until it waits for the user,
// then hangs up on it, as a closed terminal does: it must remove every
// namespace it made and exit 0.
func TestLabCleansUpOnHangup(t *testing.T) {
	t.Parallel()
	netnstest.New(t)
	prefix := labPrefix()
	cmd := exec.CommandContext(t.Context(), curfewBin, "lab", "--prefix", prefix, "--api", "127.0.0.1:0")
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if _, ok := waitUntil(2*time.Minute, 50*time.Millisecond, func() bool {
		return strings.Contains(out.String(), "Press Ctrl-C")
	}); !ok {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("curfew lab did not reach its prompt within 2 minutes:\n%s", out.String())
	}
	if m, _ := filepath.Glob("/run/netns/" + prefix + "-*"); len(m) == 0 {
		t.Fatalf("curfew lab made no namespace named %s-*", prefix)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("curfew lab after SIGHUP: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "Removing the lab network") {
		t.Errorf("curfew lab did not say it removes the lab:\n%s", out.String())
	}
	if m, _ := filepath.Glob("/run/netns/" + prefix + "-*"); len(m) != 0 {
		t.Errorf("namespaces left behind after SIGHUP: %v", m)
	}
}

// lockedBuffer is a bytes.Buffer that a process writes while a test
// reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRestrictRefusesGatewayPrefixes checks that the daemon refuses (exit
// 2, one line, nothing stored) an ip: subject holding one of the gateway's
// own addresses: lan.address, lan.address6, and an address it knows only
// from its interfaces (the WAN side).
func TestRestrictRefusesGatewayPrefixes(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	for _, subject := range []string{"ip:10.50.0.0/24", "ip:fd00:50::/64", "ip:198.51.100.0/24", "ip:2001:db8:100::1"} {
		_, errOut, code := g.curfew("restrict", subject, "--for", "1h", "--reason", "integration: gateway prefix")
		if code != 2 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "holds the gateway's own address") {
			t.Errorf("curfew restrict %s: exit %d, %q; want 2 and one line naming the gateway's address", subject, code, errOut)
		}
	}
	if rs := g.restrictions(true); len(rs) != 0 {
		t.Errorf("restrictions after refused ones: %+v, want none", rs)
	}
	g.mustCurfew("restrict", "ip:172.16.0.0/12", "--force", "--for", "1h", "--reason", "integration: wide, forced")
}
