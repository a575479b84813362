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

// sqlite3 returns the path of the sqlite3 command, skipping the test if
// it is missing (failing in CI).
func sqlite3(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("sqlite3")
	if err != nil {
		if os.Getenv(netnstest.RequireEnv) == "1" {
			t.Fatalf("sqlite3 is needed to edit the database (apt-get install sqlite3): %v", err)
		}
		t.Skipf("skipping: sqlite3 is needed to edit the database (apt-get install sqlite3): %v", err)
	}
	return path
}

// editDatabase runs SQL on the gateway's database with the sqlite3
// command, behind the daemon's back, and returns what it prints.
func (g *gateway) editDatabase(t *testing.T, sqlite3, script string) string {
	t.Helper()
	dbs, _ := filepath.Glob(filepath.Join(g.StateDir(), "*.db"))
	if len(dbs) != 1 {
		t.Fatalf("want one database in %s, found %v", g.StateDir(), dbs)
	}
	cmd := exec.CommandContext(t.Context(), sqlite3, "-cmd", ".timeout 5000", dbs[0])
	cmd.Stdin = strings.NewReader(script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("editing the database: %v: %s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestAuditVerifyDetectsEdits checks that `curfew audit verify` passes on
// the log curfew wrote, that an export of it verifies offline with the
// public key alone, and that verification fails (exit 1) once an event
// was edited in the database behind curfew's back.
func TestAuditVerifyDetectsEdits(t *testing.T) {
	t.Parallel()
	sqlite3 := sqlite3(t)
	g := newGateway(t)
	c1 := g.Clients[0]
	g.mustCurfew("person", "add", "bob")
	id, _ := g.restrict(device(c1), "10m", "integration: audit")
	g.mustCurfew("lift", itoa(id), "--reason", "integration: audit done")

	if out, errOut, code := g.curfew("audit", "verify"); code != 0 {
		t.Fatalf("curfew audit verify on an untouched log: exit %d: %s%s", code, out, errOut)
	}
	dir := t.TempDir()
	export, key := filepath.Join(dir, "export.jsonl"), filepath.Join(dir, "key.pub")
	if err := os.WriteFile(export, []byte(g.mustCurfew("audit", "export")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, []byte(g.mustCurfew("audit", "key")), 0o600); err != nil {
		t.Fatal(err)
	}
	// Offline: no server, no token.
	if out, errOut, code := runCurfew(t, "http://127.0.0.1:1", "", "audit", "verify", "--file", export, "--key", key); code != 0 {
		t.Errorf("curfew audit verify --file --key of a fresh export: exit %d: %s%s", code, out, errOut)
	}

	// The triggers that stop accidental edits are put back after the
	// edit: only the row's content changes, as a careful forger would do.
	out := g.editDatabase(t, sqlite3, `
BEGIN;
DROP TRIGGER audit_events_no_update;
UPDATE audit_events SET data = replace(data, 'integration: audit done', 'nothing happened') WHERE data LIKE '%integration: audit done%';
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
	SELECT RAISE(ABORT, 'audit events are append-only');
END;
COMMIT;
SELECT changes();`)
	if out != "1" {
		t.Fatalf("editing the audit log: %q, want one row changed", out)
	}
	stdout, errOut, code := g.curfew("audit", "verify")
	if code != 1 {
		t.Errorf("curfew audit verify after an edit: exit %d (stdout %q, stderr %q), want 1", code, stdout, errOut)
	}
	t.Logf("curfew audit verify after the edit: exit %d: %s", code, strings.TrimSpace(stdout+errOut))
}

// TestAuditVerifyDetectsDroppedEvents checks that dropping the newest
// events from the database is detected: the checkpoint kept beside it
// signs them.
func TestAuditVerifyDetectsDroppedEvents(t *testing.T) {
	t.Parallel()
	sqlite3 := sqlite3(t)
	g := newGateway(t)
	g.restrict(device(g.Clients[0]), "10m", "integration: to be hidden")
	g.mustCurfew("audit", "export") // signs the head
	out := g.editDatabase(t, sqlite3, `
DROP TRIGGER audit_events_no_delete;
DELETE FROM audit_events WHERE seq >= (SELECT min(seq) FROM audit_events WHERE data LIKE '%integration: to be hidden%');
SELECT changes();`)
	if out == "0" {
		t.Fatal("deleted no event")
	}
	stdout, errOut, code := g.curfew("audit", "verify")
	if code != 1 || !strings.Contains(errOut, "truncated") {
		t.Errorf("curfew audit verify after dropping the newest events: exit %d (stdout %q, stderr %q), want 1 and truncated", code, stdout, errOut)
	}
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
		var b strings.Builder
		if err := g.api.ExportAudit(t.Context(), 1, &b); err != nil {
			t.Fatal(err)
		}
		return strings.Count(b.String(), "\n") - strings.Count(b.String(), `"kind":"checkpoint"`)
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
	if !strings.Contains(string(out), "curfew audit verify\n   → ") || !strings.Contains(string(out), "the rows match the log") {
		t.Errorf("curfew lab --demo does not show the audit log verified:\n%s", out)
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
	if !strings.Contains(out.String(), "Time zone: a clock time or a day means the gateway's timezone") || !strings.Contains(out.String(), "--until 18:00") {
		t.Errorf("curfew lab does not tell how to try the gateway's time zone:\n%s", out.String())
	}
	tryPrinted(t, out.String())
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

// tryPrinted runs, against the running lab, the schedule command that
// `curfew lab` prints for the user to try: it must be accepted as printed.
func tryPrinted(t *testing.T, out string) {
	t.Helper()
	var server, token, add string
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if rest, ok := strings.CutPrefix(l, "export CURFEW_SERVER="); ok {
			server, token, _ = strings.Cut(rest, " CURFEW_TOKEN=")
		}
		if strings.Contains(l, " schedule add ") {
			add = l
		}
	}
	if server == "" || add == "" {
		t.Fatalf("curfew lab prints no server and token, or no schedule to try:\n%s", out)
	}
	add = strings.ReplaceAll(add, "$(date -d tomorrow +%F)", time.Now().AddDate(0, 0, 1).Format("2006-01-02"))
	args := strings.Fields(add)[1:]
	for i, a := range args { // the quoted reason
		if strings.HasPrefix(a, `"`) {
			args = append(args[:i], strings.Trim(strings.Join(args[i:], " "), `"`))
			break
		}
	}
	stdout, stderr, code := runCurfew(t, server, token, args...)
	if code != 0 || strings.TrimSpace(stdout) == "" {
		t.Errorf("the lab's schedule to try (curfew %s) = exit %d, stdout %q, stderr %q; want it accepted", strings.Join(args, " "), code, stdout, stderr)
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
