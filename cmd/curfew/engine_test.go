package main

import (
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/curfew/curfew/internal/api"
	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/enforce"
	"github.com/curfew/curfew/internal/engine"
	"github.com/curfew/curfew/internal/sqlite"
)

// TestAgainstEngine drives the client verbs against the real engine over
// SQLite in memory and the in-memory enforcer, through the API handler: the
// contract between the CLI and the daemon, without root.
func TestAgainstEngine(t *testing.T) {
	ctx := t.Context()
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	key, err := audit.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(ctx, ":memory:", &sqlite.Config{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	mem := &enforce.Memory{}
	eng, err := engine.New(&engine.Config{Store: db, Backends: []enforce.Backend{mem}, Logger: logger, VerifyInterval: -1,
		GatewayAddrs: func() ([]netip.Addr, error) { return []netip.Addr{netip.MustParseAddr("192.168.50.1")}, nil },
		AuditKey:     key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	admin, err := eng.Bootstrap(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	h, err := api.NewHandler(&api.HandlerConfig{Service: eng, Auth: eng, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	env := map[string]string{"CURFEW_SERVER": srv.URL, "CURFEW_TOKEN": admin}

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
	env["CURFEW_TOKEN"] = "cft_nonsense"
	if code, _, stderr := run("list"); code != 1 || !strings.Contains(stderr, "unauthenticated") {
		t.Errorf("unknown token = %d %q, want 1 and unauthenticated", code, stderr)
	}

	env["CURFEW_TOKEN"] = admin
	if out := mustRun("audit", "verify"); !strings.HasPrefix(out, "audit log intact") {
		t.Errorf("audit verify = %q", out)
	}
	if out := mustRun("audit"); !strings.Contains(out, "restriction.lifted") || !strings.Contains(out, "lifted; it was to end at") {
		t.Errorf("audit lacks the lift:\n%s", out)
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
