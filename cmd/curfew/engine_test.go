package main

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/curfew/curfew/internal/api"
	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/engine"
)

// TestAgainstEngine drives the client verbs against the real engine over
// SQLite in memory and the in-memory enforcer, through the API handler: the
// contract between the CLI and the daemon, without root.
func TestAgainstEngine(t *testing.T) {
	ctx := t.Context()
	f := newDaemonFixture(t, engine.Config{GatewayAddrs: func() ([]netip.Addr, error) { return []netip.Addr{netip.MustParseAddr("192.168.50.1")}, nil }}, nil)
	mem, eng, admin := f.mem, f.eng, f.admin
	env := map[string]string{"CURFEW_SERVER": f.url, "CURFEW_TOKEN": admin}

	run := func(args ...string) (int, string, string) {
		t.Helper()
		var stdout, stderr strings.Builder
		code := run(args, strings.NewReader(""), &stdout, &stderr, func(k string) string { return env[k] })
		return code, stdout.String(), stderr.String()
	}
	mustRun := func(args ...string) string {
		t.Helper()
		code, stdout, stderr := run(args...)
		if code != 0 {
			t.Fatalf("curfew %s = %d, stderr %q", strings.Join(args, " "), code, stderr)
		}
		return stdout
	}

	mustRun("person", "add", "bob")
	mustRun("device", "add", "02:00:00:00:00:01", "--owner", "bob", "--name", "phone", "--ip", "192.168.50.10")
	id := strings.TrimSpace(mustRun("restrict", "person:bob", "--for", "1h", "--reason", "exam week", "--notice", "back at nine"))
	if id != "1" {
		t.Errorf("restrict printed %q, want the id 1", id)
	}
	if _, ok := mem.LookupMAC([]byte{2, 0, 0, 0, 0, 1}); !ok {
		t.Errorf("bob's device is not restricted after restrict returned:\n%s", mem)
	}

	var rs []api.Restriction
	if err := json.Unmarshal([]byte(mustRun("list", "-o", "json")), &rs); err != nil || len(rs) != 1 || rs[0].Status != "active" || rs[0].Author != "admin" {
		t.Errorf("list -o json = %+v, %v", rs, err)
	}
	mustRun("extend", id, "--for", "30m", "--reason", "more")
	mustRun("lift", id, "--reason", "apologised")
	if _, ok := mem.LookupMAC([]byte{2, 0, 0, 0, 0, 1}); ok {
		t.Errorf("bob's device is still restricted after lift:\n%s", mem)
	}

	// What the engine refuses maps to exit 2, with one line.
	for _, args := range [][]string{
		{"lift", id, "--reason", "again"}, // already lifted: conflict
		{"show", "99"},                    // no such restriction
		{"device", "add", "02:00:00:00:00:02", "--owner", "zed"},         // no such person
		{"person", "add", "bob"},                                         // exists
		{"restrict", "person:zed", "--for", "1h", "--reason", "unknown"}, // no such person
	} {
		code, _, stderr := run(args...)
		if code != 2 || strings.Count(stderr, "\n") != 1 {
			t.Errorf("curfew %s = %d %q, want 2 and one line", strings.Join(args, " "), code, stderr)
		}
	}
	// A prefix holding the gateway's own address, which only the engine
	// knows, is refused there.
	code, _, stderr := run("restrict", "ip:192.168.50.0/24", "--for", "1h", "--reason", "the whole LAN")
	if want := "curfew: restrict: subject ip:192.168.50.0/24 holds the gateway's own address 192.168.50.1\n"; code != 2 || stderr != want {
		t.Errorf("restricting the gateway's LAN = %d %q, want 2 and %q", code, stderr, want)
	}

	// A viewer may read but not act: forbidden is a runtime failure.
	viewer := strings.TrimSpace(mustRun("token", "create", "--name", "victor", "--role", "viewer"))
	env["CURFEW_TOKEN"] = viewer
	mustRun("list", "--all")
	if code, _, stderr := run("person", "add", "carol"); code != 1 || !strings.Contains(stderr, "forbidden") {
		t.Errorf("viewer adding a person = %d %q, want 1 and forbidden", code, stderr)
	}
	// It learns nothing about a request before its 403: an invalid one is
	// refused as a valid one is, not answered 400.
	for _, body := range []string{
		`{"subject":"person:zed","reason":"unknown person","for":"1h"}`,
		`{"subject":"cat:x","for":"forever"}`,
		`{"subject":`,
	} {
		req, err := http.NewRequest("POST", f.url+"/api/v1/restrictions", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+viewer)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("viewer POST /api/v1/restrictions %s = %d, want 403", body, resp.StatusCode)
		}
	}
	env["CURFEW_TOKEN"] = "cft_nonsense"
	if code, _, stderr := run("list"); code != 1 || !strings.Contains(stderr, "unauthenticated") {
		t.Errorf("unknown token = %d %q, want 1 and unauthenticated", code, stderr)
	}

	// Operators and tokens: what a role may not do is a runtime failure
	// (exit 1) that changes nothing.
	env["CURFEW_TOKEN"] = viewer
	for _, args := range [][]string{
		{"operator", "add", "olga", "--role", "operator"},
		{"operator", "disable", "admin", "--reason", "coup"},
		{"operator", "password", "admin"},
		{"token", "revoke", "admin"},
		{"token", "create", "--name", "mallory", "--role", "admin"},
	} {
		if code, stdout, stderr := run(args...); code != 1 || stdout != "" || !strings.Contains(stderr, "forbidden") || strings.Count(stderr, "\n") != 1 {
			t.Errorf("viewer: curfew %s = %d %q %q, want 1 and one line saying forbidden", strings.Join(args, " "), code, stdout, stderr)
		}
	}
	env["CURFEW_TOKEN"] = admin
	// An appeal, as the notice server hands it to the engine, is listed
	// and answered with the CLI; a viewer may list but not answer.
	cut := strings.TrimSpace(mustRun("restrict", "device:02:00:00:00:00:03", "--for", "1h", "--reason", "appeals"))
	cutID, _ := strconv.ParseInt(cut, 10, 64)
	if _, err := eng.Appeal(ctx, curfew.AppealRequest{
		MAC: []byte{2, 0, 0, 0, 0, 3}, Addr: netip.MustParseAddr("192.168.50.30"),
		Restrictions: []curfew.RestrictionID{curfew.RestrictionID(cutID)}, Message: "why <b>me</b>?",
	}); err != nil {
		t.Fatal(err)
	}
	var as []api.Appeal
	if err := json.Unmarshal([]byte(mustRun("appeals", "-o", "json")), &as); err != nil || len(as) != 1 ||
		as[0].Message != "why <b>me</b>?" || as[0].Device != "device:02:00:00:00:00:03" || len(as[0].RestrictionIDs) != 1 || as[0].RestrictionIDs[0] != cutID {
		t.Fatalf("appeals -o json = %+v, %v", as, err)
	}
	env["CURFEW_TOKEN"] = viewer
	mustRun("appeals")
	if code, _, stderr := run("appeal", "answer", "1", "--text", "no"); code != 1 || !strings.Contains(stderr, "forbidden") {
		t.Errorf("viewer answering an appeal = %d %q, want 1 and forbidden", code, stderr)
	}
	env["CURFEW_TOKEN"] = admin
	mustRun("appeal", "answer", "1", "--text", "Until the review.")
	if code, _, stderr := run("appeal", "answer", "2", "--text", "x"); code != 2 || strings.Count(stderr, "\n") != 1 {
		t.Errorf("answering appeal 2 = %d %q, want 2 and one line", code, stderr)
	}
	if out := mustRun("appeals"); !strings.Contains(out, "answer:        Until the review.") || !strings.Contains(out, "by admin") {
		t.Errorf("appeals after the answer:\n%s", out)
	}
	if out := mustRun("audit"); !strings.Contains(out, "device:02:00:00:00:00:03  appeal.posted") || !strings.Contains(out, "appeal.answered") {
		t.Errorf("audit lacks the appeal and its answer:\n%s", out)
	}
	password := strings.TrimSpace(mustRun("operator", "add", "olga", "--role", "operator"))
	if len(password) < 20 || strings.ContainsAny(password, " \n") {
		t.Errorf("operator add printed %q, want a one-time password alone", password)
	}
	olga := strings.TrimSpace(mustRun("token", "create", "--name", "olga", "--role", "operator"))
	if out := mustRun("operator", "list") + mustRun("operator", "list", "-o", "json") + mustRun("token", "list") + mustRun("token", "list", "-o", "json"); strings.Contains(out, password) || strings.Contains(out, olga) || strings.Contains(out, admin) {
		t.Errorf("operator or token list shows a secret:\n%s", out)
	}
	var ops []api.Operator
	if err := json.Unmarshal([]byte(mustRun("operator", "list", "-o", "json")), &ops); err != nil || len(ops) != 3 || ops[1].Name != "olga" || ops[1].PasswordState != "one-time" {
		t.Errorf("operator list -o json = %+v, %v", ops, err)
	}
	env["CURFEW_TOKEN"] = olga
	mustRun("person", "add", "carol")
	env["CURFEW_TOKEN"] = admin
	mustRun("operator", "disable", "olga", "--reason", "left")
	env["CURFEW_TOKEN"] = olga
	if code, _, stderr := run("persons"); code != 1 || !strings.Contains(stderr, "unauthenticated") {
		t.Errorf("a disabled operator's token = %d %q, want 1 and unauthenticated", code, stderr)
	}
	env["CURFEW_TOKEN"] = admin
	mustRun("token", "revoke", "victor")
	env["CURFEW_TOKEN"] = viewer
	if code, _, stderr := run("list"); code != 1 || !strings.Contains(stderr, "unauthenticated") {
		t.Errorf("a revoked token = %d %q, want 1 and unauthenticated", code, stderr)
	}
	env["CURFEW_TOKEN"] = admin
	if code, _, stderr := run("operator", "disable", "admin", "--reason", "oops"); code != 1 || !strings.Contains(stderr, "last admin") {
		t.Errorf("disabling the last admin = %d %q, want 1 and a line naming the last admin", code, stderr)
	}
	for _, args := range [][]string{
		{"operator", "disable", "olga", "--reason", "again"},       // already disabled: conflict
		{"operator", "disable", "zed", "--reason", "who"},          // no such operator
		{"operator", "add", "olga", "--role", "viewer"},            // exists
		{"token", "revoke", "victor"},                              // already revoked
		{"token", "create", "--name", "admin", "--role", "viewer"}, // has a live token
	} {
		if code, _, stderr := run(args...); code != 2 || strings.Count(stderr, "\n") != 1 {
			t.Errorf("curfew %s = %d %q, want 2 and one line", strings.Join(args, " "), code, stderr)
		}
	}

	if out := mustRun("audit", "verify"); !strings.HasPrefix(out, "audit log intact") {
		t.Errorf("audit verify = %q", out)
	}
	out := mustRun("audit")
	for _, kind := range []string{"restriction.lifted", "operator.added", "operator.disabled", "token.created", "token.revoked", "auth.failed"} {
		if !strings.Contains(out, kind) {
			t.Errorf("audit lacks %s:\n%s", kind, out)
		}
	}

	// An export verifies offline with the key alone: no server, no token.
	dir := t.TempDir()
	exportFile, keyFile := filepath.Join(dir, "export.jsonl"), filepath.Join(dir, "key")
	if err := os.WriteFile(exportFile, []byte(mustRun("audit", "export")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, []byte(mustRun("audit", "key")), 0o600); err != nil {
		t.Fatal(err)
	}
	env = map[string]string{}
	if out := mustRun("audit", "verify", "--file", exportFile, "--key", keyFile); !strings.HasPrefix(out, "audit log intact: ") {
		t.Errorf("audit verify --file --key = %q", out)
	}
}
