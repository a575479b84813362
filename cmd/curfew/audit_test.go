package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/access"
	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/config"
	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/enforce"
	"github.com/curfew/curfew/internal/engine"
	"github.com/curfew/curfew/internal/netnstest"
	"github.com/curfew/curfew/internal/sqlite"
)

// docsText returns docs/audit.md.
func docsText(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "audit.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// docsScript returns the Python verifier that docs/audit.md shows.
func docsScript(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "audit.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n```python\n")
	script, _, ok2 := strings.Cut(rest, "\n```\n")
	if !ok || !ok2 {
		t.Fatal("docs/audit.md has no ```python block")
	}
	return script + "\n"
}

// python3 returns the path of a python3 that has the cryptography
// package. Without one the test is skipped, but fails where
// CURFEW_REQUIRE_NETNS=1 (CI), which installs python3-cryptography.
func python3(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("python3")
	if err == nil {
		err = exec.Command(path, "-c", "import cryptography.hazmat.primitives.asymmetric.ed25519").Run()
	}
	if err != nil {
		msg := "python3 with the cryptography package is needed to run the verifier of docs/audit.md (apt-get install python3 python3-cryptography): " + err.Error()
		if os.Getenv(netnstest.RequireEnv) == "1" {
			t.Fatal(msg)
		}
		t.Skip("skipping: " + msg)
	}
	return path
}

// realExport drives an engine on SQLite through every kind of event an
// operator or the gateway records and returns its export and public key.
func realExport(t *testing.T, from int64) ([]byte, ed25519.PublicKey) {
	t.Helper()
	ctx := context.Background()
	key, err := audit.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(ctx, ":memory:", &sqlite.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	// The engine's clock can be moved on, past the end of a schedule's
	// window.
	var ahead atomic.Int64
	eng, err := engine.New(&engine.Config{Store: db, Backends: []enforce.Backend{&enforce.Memory{}},
		Logger: slog.New(slog.DiscardHandler), VerifyInterval: -1, AuditKey: key, ConfigDigest: strings.Repeat("ab", 32),
		Approvals: curfew.ApprovalPolicy{Enabled: true, RequiredOver: 24 * time.Hour},
		Now:       func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	acc, err := access.New(&access.Config{Store: db, Logger: slog.New(slog.DiscardHandler), Argon2: access.Argon2Params{Time: 1, Memory: 64, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(acc.Close)
	if _, err := acc.Bootstrap(ctx, "admin"); err != nil {
		t.Fatal(err)
	}
	op := curfew.WithActor(ctx, curfew.Actor{Name: "olga", Role: curfew.RoleAdmin})
	bob := curfew.WithActor(ctx, curfew.Actor{Name: "bob", Role: curfew.RoleOperator})
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(eng.AddPerson(op, "bob"))
	must(eng.AddDevice(op, &curfew.Device{MAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, Name: "Zoë's \"phone\"", Owner: "bob"}))
	must(eng.Checkpoint(op))
	r, err := eng.Restrict(op, curfew.RestrictRequest{Subject: "person:bob", Mode: curfew.ModeAllowlist, Allow: []string{"school.example", "10.0.0.0/8"},
		Reason: "exam week: «no games»\n\tagreed with 😀 parents", Notice: "back at nine <b>&</b> \\o/", For: time.Hour})
	must(r, err)
	must(eng.Extend(op, r.ID, time.Time{}, 30*time.Minute, "one more half hour"))
	must(eng.Lift(op, r.ID, "done early"))
	// Four eyes: one approved, one rejected, one scheduled.
	long, err := eng.Restrict(op, curfew.RestrictRequest{Subject: "device:02:00:00:00:00:01", Reason: "a week", For: 7 * 24 * time.Hour})
	must(long, err)
	must(eng.Approve(bob, long.ID, "proportionate"))
	must(eng.Extend(op, long.ID, time.Time{}, 24*time.Hour, "one more day"))
	must(eng.Reject(bob, long.ID, "a week is enough"))
	other, err := eng.Restrict(op, curfew.RestrictRequest{Subject: "ip:192.168.50.77", Reason: "a month", For: 30 * 24 * time.Hour})
	must(other, err)
	must(eng.Reject(bob, other.ID, "too long"))
	must(eng.Restrict(op, curfew.RestrictRequest{Subject: "ip:2001:db8::77", Reason: "tonight", Start: time.Now().Add(time.Hour), For: time.Hour}))
	// The restricted person's question and its answer.
	a, err := eng.Appeal(ctx, curfew.AppealRequest{MAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, Addr: netip.MustParseAddr("192.168.50.10"),
		Restrictions: []curfew.RestrictionID{long.ID}, Message: "Why? «Ça suffit» <script>"})
	must(a, err)
	must(eng.AnswerAppeal(op, a.ID, "Until the exams are over."))
	// Devices seen on the LAN, one of them approved, and a flood counted.
	if err := eng.RecordSeen(ctx, []curfew.Sighting{
		{MAC: net.HardwareAddr{6, 0, 0, 0, 0, 9}, At: time.Now(), Addrs: []netip.Addr{netip.MustParseAddr("192.168.50.9"), netip.MustParseAddr("fd00:50::9")}, Hostname: "Zoë's-tablet"},
	}, 5); err != nil {
		t.Fatal(err)
	}
	must(eng.ApproveDevice(op, &curfew.Device{MAC: net.HardwareAddr{6, 0, 0, 0, 0, 9}, Name: "tablet", Owner: "bob"}))
	// Operators and tokens, and a wrong token.
	must(acc.CreateToken(op, "victor", curfew.RoleViewer))
	_, _, err = acc.AddOperator(op, "ivan", curfew.RoleOperator)
	must(nil, err)
	must(acc.DisableOperator(op, "ivan", "left"))
	must(acc.RevokeToken(op, "victor"))
	acc.Authenticate(ctx, netip.MustParseAddr("192.0.2.7"), "cft_guess")
	acc.Flush(ctx)
	// A schedule whose window is open now, then closes two hours on; the
	// schedule is removed the day after.
	now := time.Now().UTC()
	s, err := eng.AddSchedule(op, curfew.ScheduleRequest{Subject: "person:bob", Days: "daily", Zone: "UTC",
		From: now.Add(-time.Hour).Format("15:04"), To: now.Add(time.Hour).Format("15:04"),
		Until: now.Add(10 * 24 * time.Hour), Reason: "school nights", Notice: "Sleep well."})
	must(s, err)
	ahead.Store(int64(2 * time.Hour))
	must(nil, eng.Reconcile(ctx))
	ahead.Store(int64(25 * time.Hour))
	must(eng.RemoveSchedule(op, s.ID, "holidays"))
	var b bytes.Buffer
	if err := eng.ExportAudit(op, from, &b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes(), key.Public().(ed25519.PublicKey)
}

// pyDriver runs the docs' script once for each export named on its
// command line, in one Python process (a process per export is slow), as
// if each were its own run: it prints "RESULT ok" if the script succeeded
// and "RESULT fail" if it exited with an error or an exception.
const pyDriver = `import sys
script, key, files = sys.argv[1], sys.argv[2], sys.argv[3:]
code = compile(open(script).read(), script, "exec")
for f in files:
    sys.argv = [script, f, key]
    try:
        exec(code, {"__name__": "__main__"})
        ok = True
    except SystemExit as e:
        ok = e.code in (None, 0)
    except Exception:
        ok = False
    print("RESULT", "ok" if ok else "fail", flush=True)
`

// TestDocsPythonVerifier runs the script of docs/audit.md, an outside
// tool that knows only the documented format, against real exports: it
// must accept them, and refuse each of them changed.
func TestDocsPythonVerifier(t *testing.T) {
	python := python3(t)
	dir := t.TempDir()
	script, driver := filepath.Join(dir, "verify.py"), filepath.Join(dir, "driver.py")
	if err := os.WriteFile(script, []byte(docsScript(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(driver, []byte(pyDriver), 0o600); err != nil {
		t.Fatal(err)
	}
	// verify returns, for each export, whether the script accepts it.
	verify := func(pub ed25519.PublicKey, exports ...[]byte) []bool {
		t.Helper()
		keyFile := filepath.Join(dir, "key.pub")
		if err := os.WriteFile(keyFile, []byte(audit.EncodePublicKey(pub)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		args := []string{driver, script, keyFile}
		for i, e := range exports {
			f := filepath.Join(dir, fmt.Sprintf("export%d.jsonl", i))
			if err := os.WriteFile(f, e, 0o600); err != nil {
				t.Fatal(err)
			}
			args = append(args, f)
		}
		out, err := exec.Command(python, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("running the docs' verifier: %v\n%s", err, out)
		}
		var ok []bool
		for _, l := range strings.Split(string(out), "\n") {
			if r, found := strings.CutPrefix(l, "RESULT "); found {
				ok = append(ok, r == "ok")
			}
		}
		if len(ok) != len(exports) {
			t.Fatalf("the docs' verifier gave %d results for %d exports:\n%s", len(ok), len(exports), out)
		}
		return ok
	}

	export, pub := realExport(t, 1)
	partial, pub2 := realExport(t, 4)
	docs := docsText(t)
	for _, k := range []audit.Kind{audit.KindScheduleAdded, audit.KindScheduleRemoved, audit.KindWindowOpened, audit.KindWindowClosed} {
		if !bytes.Contains(export, []byte(`"kind":"`+string(k)+`"`)) {
			t.Errorf("the export holds no %s event", k)
		}
		if !strings.Contains(docs, "| `"+string(k)+"` |") {
			t.Errorf("docs/audit.md does not describe %s", k)
		}
	}
	if ok := verify(pub, export); !ok[0] {
		t.Fatalf("the docs' verifier refuses a real export:\n%s", export)
	}
	if ok := verify(pub2, partial); !ok[0] {
		t.Errorf("the docs' verifier refuses an export from event 4:\n%s", partial)
	}
	if rep, err := audit.Verify(bytes.NewReader(export), pub); err != nil || !rep.OK() {
		t.Fatalf("audit.Verify refuses the export the docs' verifier accepts: %v %v", err, rep.Messages())
	}

	// One change in each line, and the changes a lenient reader lets
	// through: each must be refused, by the script and by curfew alike.
	lines := bytes.SplitAfter(export, []byte("\n"))
	lines = lines[:len(lines)-1]
	var changed [][]byte
	for i, l := range lines {
		c := bytes.Clone(export)
		off := len(bytes.Join(lines[:i], nil)) + len(l)/2
		c[off] ^= 1
		changed = append(changed, c)
	}
	// The last base64 digit of a signature holds 4 bits of padding: one of
	// them set decodes, leniently, to the same signature.
	const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	last := string(lines[len(lines)-1])
	sigEnd := strings.LastIndex(last, `=="`) - 1
	flip := []byte(last)
	flip[sigEnd] = b64[strings.IndexByte(b64, flip[sigEnd])^1]
	changed = append(changed,
		export[:len(export)-1], // the final newline
		bytes.Replace(export, []byte(`","kind":"checkpoint"`), []byte(`", "kind":"checkpoint"`), 1),
		bytes.Replace(export, []byte(`"seq":3,`), []byte(`"seq":03,`), 1),
		bytes.Replace(export, []byte(`\u00eb`), []byte(`\u00EB`), 1),
		bytes.Replace(export, []byte(`\u00ab`), []byte("\u00ab"), 1),
		bytes.Replace(export, []byte(`<b>`), []byte(`\u003cb>`), 1),
		bytes.Replace(export, lines[len(lines)-1], flip, 1),
		bytes.Replace(export, lines[2], nil, 1),                                                   // event 3 removed
		bytes.Join(append(append([][]byte{}, lines[:len(lines)-2]...), lines[len(lines)-1]), nil), // the last event removed
	)
	for i, ok := range verify(pub, changed...) {
		c := changed[i]
		if bytes.Equal(c, export) {
			t.Fatalf("change %d changes nothing", i)
		}
		if ok {
			t.Errorf("the docs' verifier accepts a changed export:\n%s", c)
		}
		if rep, _ := audit.Verify(bytes.NewReader(c), pub); rep.OK() {
			t.Errorf("audit.Verify accepts a changed export:\n%s", c)
		}
	}
	other, _ := audit.GenerateKey()
	if ok := verify(other.Public().(ed25519.PublicKey), export); ok[0] {
		t.Error("the docs' verifier accepts an export with another key")
	}
}

// TestCheckpointsToSyslog checks that with audit.syslog set, every new
// checkpoint reaches the syslog server as its line; here a server on
// loopback.
func TestCheckpointsToSyslog(t *testing.T) {
	if checkpointPublisher(&config.Config{}) != nil {
		t.Error("a publisher without audit.syslog")
	}
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	publish := checkpointPublisher(&config.Config{Audit: config.Audit{SyslogNetwork: "udp", SyslogAddr: conn.LocalAddr().String()}})

	ctx := curfew.WithActor(t.Context(), curfew.Actor{Name: "olga", Role: curfew.RoleOperator})
	key, err := audit.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(ctx, ":memory:", &sqlite.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	eng, err := engine.New(&engine.Config{Store: db, Logger: slog.New(slog.DiscardHandler), AuditKey: key, PublishCheckpoint: publish})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	if _, err := eng.AddPerson(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	c, err := eng.Checkpoint(ctx)
	if err != nil || c == nil {
		t.Fatalf("Checkpoint() = %v, %v", c, err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	n, _, err := conn.ReadFrom(buf)
	if err != nil {
		t.Fatalf("no syslog message: %v", err)
	}
	msg := string(buf[:n])
	if !strings.Contains(msg, "curfew-audit") || !strings.HasSuffix(strings.TrimSpace(msg), string(c.Encode())) {
		t.Errorf("syslog message %q, want the checkpoint %s tagged curfew-audit", msg, c.Encode())
	}
}
