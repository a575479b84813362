package main

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/curfew/curfew/internal/access"
	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/engine"
)

// testConfig is a daemon configuration for tests. Its addresses are those
// of the namespace in TestDaemonLeavesFirewallTable; on the machine itself
// nothing answers there.
const testConfig = `state_dir: %s
lan:
  interfaces: [lan0]
  address: 10.77.0.1
wan:
  interfaces: [wan0]
api:
  listen: 127.0.0.1:18470
`

// newState writes a configuration in a new directory, runs `curfew init`
// on it and returns the configuration's path, the state directory and the
// first admin token.
func newState(t *testing.T) (cfg, dir, token string) {
	t.Helper()
	top := t.TempDir()
	dir = filepath.Join(top, "state")
	cfg = filepath.Join(top, "curfew.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, testConfig, dir), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCurfew(t, "init", "--config", cfg)
	if code != 0 || stderr != "" {
		t.Fatalf("curfew init = %d, stderr %q", code, stderr)
	}
	return cfg, dir, strings.TrimSpace(stdout)
}

// runCurfew runs the curfew command line args in this process.
func runCurfew(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, strings.NewReader(""), &out, &errb, func(string) string { return "" })
	return code, out.String(), errb.String()
}

// testLogger returns a logger to the test's output and to buf.
func testLogger(t *testing.T, buf *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(io.MultiWriter(buf, t.Output()), nil))
}

// addEntries records n changes in the state in dir, so that the database
// has several pages.
func addEntries(t *testing.T, dir string, n int) {
	t.Helper()
	db, _, err := openState(t.Context(), dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i := range n {
		name := fmt.Sprintf("person-with-a-long-name-%d", i)
		ev := &audit.Event{Actor: "admin", Kind: audit.KindPersonAdded, Subject: "person:" + name}
		if err := db.CreatePerson(t.Context(), &curfew.Person{Name: name}, ev); err != nil {
			t.Fatal(err)
		}
	}
}

// corruptPage overwrites a cell in the middle of a table leaf page in the
// second half of the database file at path, as a bad sector would.
func corruptPage(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const pageSize = 4096
	for p := len(b)/pageSize/2 - 1; p < len(b)/pageSize; p++ {
		h := b[p*pageSize:]
		// Not a page of the schema table: that makes every statement
		// fail, before quick_check can say what is wrong.
		if cells := int(h[3])<<8 | int(h[4]); h[0] == 13 && cells >= 4 && !bytes.Contains(h[:pageSize], []byte("CREATE ")) {
			mid := 8 + 2*(cells/2)
			off := p*pageSize + (int(h[mid])<<8 | int(h[mid+1]))
			copy(b[off:], bytes.Repeat([]byte{0xff}, 16))
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("%s (%d bytes) has no table leaf page with four cells in its second half", path, len(b))
}

func removeDB(t *testing.T, dir string) {
	t.Helper()
	for _, name := range []string{dbFile, dbFile + "-wal", dbFile + "-shm"} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
	}
}

func removeFile(t *testing.T, dir, name string) {
	t.Helper()
	if err := os.Remove(filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// listing describes the files in dir: name, size and mode.
func listing(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var l []string
	for _, e := range es {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		l = append(l, fmt.Sprintf("%s %d %v", e.Name(), fi.Size(), fi.Mode()))
	}
	return l
}

// damages are the ways a state directory can contradict itself, with what
// the refusal must say.
var damages = []struct {
	name   string
	damage func(t *testing.T, dir string)
	want   string
}{
	{"database deleted", func(t *testing.T, dir string) { removeDB(t, dir) },
		"curfew.db is missing, but audit.ed25519 and audit.checkpoint (which signs audit event 1) are there"},
	{"database truncated to 0 bytes", func(t *testing.T, dir string) {
		if err := os.Truncate(filepath.Join(dir, dbFile), 0); err != nil {
			t.Fatal(err)
		}
	}, "curfew.db is empty (0 bytes), but audit.ed25519 and audit.checkpoint (which signs audit event 1) are there"},
	{"database with a corrupt page", func(t *testing.T, dir string) {
		addEntries(t, dir, 60)
		corruptPage(t, filepath.Join(dir, dbFile))
	}, "curfew.db: corrupt: "},
	{"audit key deleted", func(t *testing.T, dir string) { removeFile(t, dir, keyFile) },
		"audit.ed25519 is missing, but curfew.db and audit.checkpoint are there: without its key, the audit log can be neither signed nor continued"},
	{"audit key and checkpoint deleted", func(t *testing.T, dir string) {
		removeFile(t, dir, keyFile)
		removeFile(t, dir, checkpointFile)
	}, "audit.ed25519 is missing, but curfew.db is there"},
	{"audit key truncated", func(t *testing.T, dir string) {
		if err := os.Truncate(filepath.Join(dir, keyFile), 0); err != nil {
			t.Fatal(err)
		}
	}, "audit.ed25519 (0 bytes) is damaged"},
	{"checkpoint with an empty audit log", func(t *testing.T, dir string) {
		raw, err := sql.Open("sqlite", filepath.Join(dir, dbFile))
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		if _, err := raw.Exec("DROP TRIGGER audit_events_no_delete; DELETE FROM audit_events"); err != nil {
			t.Fatal(err)
		}
	}, "its audit log is empty, but the checkpoint file " /* …/audit.checkpoint signs event 1 */},
	{"checkpoint alone", func(t *testing.T, dir string) {
		removeDB(t, dir)
		removeFile(t, dir, keyFile)
	}, "curfew.db is missing, but audit.checkpoint (which signs audit event 1) is there"},
	{"key alone", func(t *testing.T, dir string) {
		removeDB(t, dir)
		removeFile(t, dir, checkpointFile)
	}, "curfew.db is missing, but audit.ed25519 is there (if `curfew init` was interrupted, run it again)"},
}

// TestOpenStateRefusesContradictions checks that the daemon's openState
// refuses each damaged state, says what is wrong and how to restore it,
// and creates or changes no file.
func TestOpenStateRefusesContradictions(t *testing.T) {
	for _, tt := range damages {
		t.Run(tt.name, func(t *testing.T) {
			_, dir, _ := newState(t)
			tt.damage(t, dir)
			before := listing(t, dir)

			db, _, err := openState(t.Context(), dir, slog.New(slog.DiscardHandler))
			if err == nil {
				db.Close()
				t.Fatal("openState succeeded, want a refusal")
			}
			var se *stateError
			if !errors.As(err, &se) {
				t.Fatalf("openState = %v, want a *stateError", err)
			}
			for _, want := range []string{"refusing to use the state directory " + dir + ": ", tt.want, "To restore from a backup:", "Restoring from a backup"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("openState = %q\nwant it to contain %q", err, want)
				}
			}
			if diff := cmp.Diff(before, listing(t, dir)); diff != "" {
				t.Errorf("files in the state directory (-before +after):\n%s", diff)
			}
		})
	}
}

// TestInitKeepsDamagedState checks that `curfew init` refuses a damaged
// state as the daemon does, instead of creating a new one over it.
func TestInitKeepsDamagedState(t *testing.T) {
	for _, tt := range damages {
		if tt.name == "key alone" {
			continue // TestInitCarriesOn
		}
		t.Run(tt.name, func(t *testing.T) {
			cfg, dir, _ := newState(t)
			tt.damage(t, dir)
			before := listing(t, dir)
			code, stdout, stderr := runCurfew(t, "init", "--config", cfg)
			if code != 1 || stdout != "" {
				t.Errorf("curfew init = %d, stdout %q; want 1 and nothing", code, stdout)
			}
			if want := "curfew: init: refusing to use the state directory " + dir + ": "; !strings.HasPrefix(stderr, want) || !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr = %q\nwant it to start %q and contain %q", stderr, want, tt.want)
			}
			if diff := cmp.Diff(before, listing(t, dir)); diff != "" {
				t.Errorf("files in the state directory (-before +after):\n%s", diff)
			}
		})
	}
}

// TestInitTwice checks that a second `curfew init` changes nothing: the
// first token still works.
func TestInitTwice(t *testing.T) {
	cfg, dir, token := newState(t)
	code, stdout, stderr := runCurfew(t, "init", "--config", cfg)
	if code != 1 || stdout != "" || !strings.Contains(stderr, "is already initialised") {
		t.Errorf("second curfew init = %d, stdout %q, stderr %q; want 1 and already initialised", code, stdout, stderr)
	}
	db, key, err := openState(t.Context(), dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	acc, err := access.New(&access.Config{Store: db, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(&engine.Config{Store: db, Logger: slog.New(slog.DiscardHandler), AuditKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer acc.Close()
	if a, err := acc.Authenticate(t.Context(), netip.MustParseAddr("127.0.0.1"), token); err != nil || a.Name != "admin" {
		t.Errorf("Authenticate(first token) after a second init = %+v, %v; want admin", a, err)
	}
	ctx := curfew.WithActor(t.Context(), curfew.Actor{Name: "admin", Role: curfew.RoleAdmin})
	if rep, err := eng.VerifyAudit(ctx); err != nil || !rep.OK || rep.Entries != 1 || rep.SignedSeq != 1 {
		t.Errorf("VerifyAudit() after a second init = %+v, %v; want OK with 1 event, signed", rep, err)
	}
}

// TestInitCarriesOn checks that init finishes the work of an init that
// stopped after writing the audit key, with that key.
func TestInitCarriesOn(t *testing.T) {
	cfg, dir, _ := newState(t)
	key, err := os.ReadFile(filepath.Join(dir, keyFile))
	if err != nil {
		t.Fatal(err)
	}
	removeDB(t, dir)
	removeFile(t, dir, checkpointFile)
	code, stdout, stderr := runCurfew(t, "init", "--config", cfg)
	if code != 0 || !strings.HasPrefix(stdout, "cft_") || stderr != "" {
		t.Fatalf("curfew init after an interrupted one = %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if after, err := os.ReadFile(filepath.Join(dir, keyFile)); err != nil || !bytes.Equal(after, key) {
		t.Errorf("audit key changed (%v): an interrupted init's key must be kept", err)
	}
}

func TestOpenStateNotInitialised(t *testing.T) {
	for _, name := range []string{"missing", "empty"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			if name == "empty" {
				if err := os.Mkdir(dir, 0o700); err != nil {
					t.Fatal(err)
				}
			}
			_, _, err := openState(t.Context(), dir, slog.New(slog.DiscardHandler))
			if err == nil || !strings.Contains(err.Error(), "run `curfew init --config FILE` first") {
				t.Errorf("openState(%s) = %v, want a pointer to curfew init", name, err)
			}
			if _, err := os.Stat(filepath.Join(dir, dbFile)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("openState created %s (%v)", dbFile, err)
			}
		})
	}
}

func wantMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("mode of %s = %#o, want %#o", path, got, want)
	}
}

// TestStateModes checks that init creates private files in a private
// directory, and that an existing directory open to others is made
// private, with a warning.
func TestStateModes(t *testing.T) {
	old := syscall.Umask(0o022) // the usual umask, not a stricter one that would hide the modes asked for
	t.Cleanup(func() { syscall.Umask(old) })

	top := t.TempDir()
	dir := filepath.Join(top, "state")
	if err := os.Mkdir(dir, 0o755); err != nil { // as `install -d` or a package would leave it
		t.Fatal(err)
	}
	cfg := filepath.Join(top, "curfew.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, testConfig, dir), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCurfew(t, "init", "--config", cfg)
	if code != 0 {
		t.Fatalf("curfew init = %d, stderr %q", code, stderr)
	}
	if !strings.Contains(stderr, "made the state directory private") {
		t.Errorf("init stderr = %q, want a warning that the state directory was made private", stderr)
	}
	wantMode(t, dir, 0o700)
	for _, name := range []string{dbFile, keyFile, checkpointFile} {
		wantMode(t, filepath.Join(dir, name), 0o600)
	}

	// The daemon's open does the same to a directory loosened later.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	db, _, err := openState(t.Context(), dir, testLogger(t, &logs))
	if err != nil {
		t.Fatal(err)
	}
	addEntries(t, dir, 1) // with the daemon's handle open: -wal and -shm exist
	for _, name := range []string{dbFile, dbFile + "-wal", dbFile + "-shm"} {
		wantMode(t, filepath.Join(dir, name), 0o600)
	}
	db.Close()
	wantMode(t, dir, 0o700)
	if !strings.Contains(logs.String(), "made the state directory private") {
		t.Errorf("log = %q, want a warning that the state directory was made private", logs.String())
	}
}

// A directory owned by someone else is not changed, only warned about.
func TestStateDirOfAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the directory to another user")
	}
	_, dir, _ := newState(t)
	if err := os.Chmod(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	db, _, err := openState(t.Context(), dir, testLogger(t, &logs))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	wantMode(t, dir, 0o750)
	if !strings.Contains(logs.String(), "state directory is open to other users") {
		t.Errorf("log = %q, want a warning that the state directory is open to other users", logs.String())
	}
}

// legacyState copies the state directory of the first release that the
// store's tests keep (eight audit entries, two restrictions, a device)
// into a new directory, and returns it.
func legacyState(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{dbFile, legacyKeyFile, legacyHeadFile} {
		b, err := os.ReadFile(filepath.Join("..", "..", "internal", "sqlite", "testdata", "v1", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestUpgradeState checks that the daemon's openState upgrades the state
// of the first release: the log is carried over, verified and signed from
// then on with a new key, and the state is kept.
func TestUpgradeState(t *testing.T) {
	dir := legacyState(t)
	db, key, err := openState(t.Context(), dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("openState(first release's state) = %v", err)
	}
	wantMode(t, filepath.Join(dir, keyFile), 0o600)
	eng, err := engine.New(&engine.Config{Store: db, Logger: slog.New(slog.DiscardHandler), AuditKey: key})
	if err != nil {
		t.Fatal(err)
	}
	ctx := curfew.WithActor(t.Context(), curfew.Actor{Name: "admin", Role: curfew.RoleAdmin})
	if _, err := eng.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := eng.VerifyAudit(ctx)
	if err != nil || !rep.OK || rep.Entries != 12 || rep.SignedSeq != 12 {
		t.Errorf("VerifyAudit() after the upgrade = %+v, %v; want OK with 12 events, signed", rep, err)
	}
	if rs, err := eng.Restrictions(ctx, curfew.RestrictionFilter{All: true}); err != nil || len(rs) != 2 {
		t.Errorf("restrictions after the upgrade = %v, %v; want the 2 of the first release", rs, err)
	}
	eng.Close()
	db.Close()

	// Opened again, it is an ordinary state, with the same key.
	db, again, err := openState(t.Context(), dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if !again.Equal(key) {
		t.Error("the key changed after the upgrade")
	}

	// Its signing key lost afterwards (and the checkpoint file with it):
	// no new key is made over checkpoints signed with the old one.
	removeFile(t, dir, keyFile)
	removeFile(t, dir, checkpointFile)
	before := listing(t, dir)
	_, _, err = openState(t.Context(), dir, slog.New(slog.DiscardHandler))
	var se *stateError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "audit.ed25519 is missing, but curfew.db holds checkpoints signed with it") {
		t.Errorf("openState(upgraded state without its key) = %v, want a refusal", err)
	}
	if diff := cmp.Diff(before, listing(t, dir)); diff != "" {
		t.Errorf("files in the state directory (-before +after):\n%s", diff)
	}
}

// The first release's state, damaged, is refused with that release's
// words.
func TestOpenStateRefusesDamagedLegacyState(t *testing.T) {
	dir := legacyState(t)
	removeDB(t, dir)
	_, _, err := openState(t.Context(), dir, slog.New(slog.DiscardHandler))
	if want := "curfew.db is missing, but audit.key and audit.head (which records audit entry 8) are there"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("openState = %v, want it to say %q", err, want)
	}
}
