package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/engine"
)

// TestBackupWhileWriting takes a backup while another connection keeps
// writing, as the daemon does, restores it the way docs/operation.md says
// (tar into an empty state directory) and checks that the restored state
// opens, that its audit log verifies, and that it holds at least what was
// written before the backup began.
func TestBackupWhileWriting(t *testing.T) {
	cfg, dir, _ := newState(t)
	addEntries(t, dir, 50)

	db, _, err := openState(t.Context(), dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; i < 2000; i++ { // bounded: the backup ends long before
			select {
			case <-stop:
				return
			default:
			}
			name := fmt.Sprintf("written-during-the-backup-%d", i)
			ev := &audit.Event{Actor: "admin", Kind: audit.KindPersonAdded, Subject: "person:" + name}
			if err := db.CreatePerson(t.Context(), &curfew.Person{Name: name}, ev); err != nil {
				t.Error(err)
				return
			}
		}
	})
	out := filepath.Join(t.TempDir(), "curfew-backup.tar")
	code, stdout, stderr := runCurfew(t, "backup", out, "--config", cfg)
	close(stop)
	wg.Wait()
	if code != 0 || stdout != "" || stderr != "" {
		t.Fatalf("curfew backup = %d %q %q, want 0 and no output", code, stdout, stderr)
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("backup mode = %v, want 0600", fi.Mode().Perm())
	}
	list, err := exec.Command("tar", "-tf", out).Output()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Fields(string(list)), []string{"audit.checkpoint", "audit.ed25519", "curfew.db"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("backup holds %v, want %v", got, want)
	}

	restored := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(restored, 0o700); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command("tar", "-xpf", out, "-C", restored).CombinedOutput(); err != nil {
		t.Fatalf("tar -xpf: %v: %s", err, b)
	}
	rdb, key, err := openState(t.Context(), restored, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("opening the restored state: %v", err)
	}
	defer rdb.Close()
	eng, err := engine.New(&engine.Config{Store: rdb, Logger: slog.New(slog.DiscardHandler), AuditKey: key})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := eng.VerifyAudit(curfew.WithActor(t.Context(), curfew.Actor{Name: "admin", Role: curfew.RoleAdmin}))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Entries < 51 {
		t.Errorf("restored audit log: %+v, want intact with at least the 51 entries made before the backup", rep)
	}
}

func TestBackupRefusesBadInput(t *testing.T) {
	cfg, _, _ := newState(t)
	existing := filepath.Join(t.TempDir(), "there.tar")
	if err := os.WriteFile(existing, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"backup", "--config", cfg}, "curfew: backup: want exactly one FILE to write the backup to\n"},
		{[]string{"backup", existing, "--config", cfg}, "curfew: backup: FILE: " + existing + " already exists; name a new file\n"},
	} {
		code, stdout, stderr := runCurfew(t, tt.args...)
		if code != 2 || stdout != "" || stderr != tt.want {
			t.Errorf("curfew %s = %d %q %q, want 2 and %q", strings.Join(tt.args, " "), code, stdout, stderr, tt.want)
		}
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep me" {
		t.Errorf("the existing file was changed to %q", b)
	}
}
