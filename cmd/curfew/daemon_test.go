package main

import (
	"bytes"
	"flag"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/enforce"
	"github.com/curfew/curfew/internal/engine"
	"github.com/curfew/curfew/internal/netfilter"
	"github.com/curfew/curfew/internal/netnstest"
)

// curfewProcessEnv makes TestCurfewProcess run curfew.
const curfewProcessEnv = "CURFEW_TEST_PROCESS"

// TestCurfewProcess is the curfew binary for tests that need one in a
// process of its own (in another network namespace): with curfewProcessEnv
// set to 1, it runs the command line after "--" and exits with its code.
func TestCurfewProcess(t *testing.T) {
	if os.Getenv(curfewProcessEnv) != "1" {
		t.Skip("runs only as a child process of another test")
	}
	os.Exit(run(flag.Args(), os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

// daemonNS returns the network namespace in which a test runs a curfew
// daemon that must not start: a fresh one when running as root, so that
// the daemon cannot touch this machine's firewall even if the code under
// test is wrong, or -1, this machine's, for a user without the privileges
// to change the firewall.
func daemonNS(t *testing.T) int {
	if os.Geteuid() != 0 {
		return -1
	}
	return netnstest.New(t)
}

// refusedDaemon runs `curfew daemon --config cfg` in a process of its own,
// in ns (-1 for this process's namespace), and waits for it to exit. The
// daemon must change nothing: until it has exited, watch is polled, and a
// change in its answer, or a daemon still running after 30s, fails t. It
// returns the exit code and stderr.
func refusedDaemon(t *testing.T, ns int, cfg string, watch func() string) (code int, stderr string) {
	t.Helper()
	var stdout, errb bytes.Buffer
	cmd := exec.Command(os.Args[0], "-test.run=^TestCurfewProcess$", "--", "daemon", "--config", cfg)
	cmd.Env = append(os.Environ(), curfewProcessEnv+"=1")
	cmd.Stdout, cmd.Stderr = &stdout, &errb
	before := watch()
	start := cmd.Start
	if ns >= 0 {
		start = func() error { return netnstest.Do(ns, cmd.Start) }
	}
	if err := start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		cmd.Process.Kill()
		<-exited
	}

	deadline := time.After(30 * time.Second)
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	for {
		select {
		case <-exited:
			if now := watch(); now != before {
				t.Errorf("the daemon changed what it must leave alone (-before +after):\n%s", cmp.Diff(before, now))
			}
			if stdout.Len() > 0 {
				t.Errorf("curfew daemon wrote %q on stdout, want nothing", stdout.String())
			}
			return cmd.ProcessState.ExitCode(), errb.String()
		case <-poll.C:
			if now := watch(); now != before {
				stop()
				t.Fatalf("the daemon changed what it must leave alone (-before +after):\n%s\nstderr:\n%s", cmp.Diff(before, now), errb.String())
			}
		case <-deadline:
			stop()
			t.Fatalf("the daemon is still running after 30s; stderr:\n%s", errb.String())
		}
	}
}

// dbFiles is the listing of dir without SQLite's -wal and -shm files,
// which SQLite creates, empty, while it checks a database, and removes.
func dbFiles(t *testing.T, dir string) []string {
	var l []string
	for _, f := range listing(t, dir) {
		if name, _, _ := strings.Cut(f, " "); !strings.HasSuffix(name, "-wal") && !strings.HasSuffix(name, "-shm") {
			l = append(l, f)
		}
	}
	return l
}

// TestDaemonRefusesDamagedState runs `curfew daemon` on damaged states: it
// must exit 1 with the explanation on stderr, having created nothing.
func TestDaemonRefusesDamagedState(t *testing.T) {
	for _, tt := range damages {
		t.Run(tt.name, func(t *testing.T) {
			cfg, dir, _ := newState(t)
			tt.damage(t, dir)
			before := listing(t, dir)
			code, stderr := refusedDaemon(t, daemonNS(t), cfg, func() string {
				return strings.Join(dbFiles(t, dir), "\n")
			})
			if diff := cmp.Diff(before, listing(t, dir)); diff != "" {
				t.Errorf("files in the state directory (-before +after):\n%s", diff)
			}
			if code != 1 {
				t.Errorf("curfew daemon exited %d, want 1", code)
			}
			for _, want := range []string{
				"curfew: daemon: refusing to use the state directory " + dir + ": ", tt.want,
				"The firewall table stays as it was", "To restore from a backup:\n  1. stop curfew",
			} {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr = %q\nwant it to contain %q", stderr, want)
				}
			}
		})
	}
}

// expires matches the time left that nft shows for an element, which
// changes from one listing to the next.
var expires = regexp.MustCompile(` expires [0-9dhms]+`)

// curfewTable returns `nft list table inet curfew` in ns, without the times
// left.
func curfewTable(t *testing.T, ns int) string {
	t.Helper()
	return expires.ReplaceAllString(netnstest.Run(t, ns, "nft", "list", "table", "inet", netfilter.DefaultTable), "")
}

// TestDaemonLeavesFirewallTable checks, in a network namespace, that a
// daemon refusing its state leaves the table the last run left, with its
// restricted device, instead of rebuilding it empty from a new database.
func TestDaemonLeavesFirewallTable(t *testing.T) {
	ns := netnstest.New(t)
	for _, args := range [][]string{
		{"link", "set", "dev", "lo", "up"},
		{"link", "add", "lan0", "type", "veth", "peer", "name", "lan1"},
		{"link", "add", "wan0", "type", "veth", "peer", "name", "wan1"},
		{"link", "set", "dev", "lan0", "up"},
		{"link", "set", "dev", "wan0", "up"},
		{"addr", "add", "10.77.0.1/24", "dev", "lan0"},
	} {
		netnstest.Run(t, ns, "ip", args...)
	}

	// A run of the daemon: it restricted a device, and stopped.
	cfg, dir, _ := newState(t)
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	db, _, err := openState(t.Context(), dir, logger)
	if err != nil {
		t.Fatal(err)
	}
	nf, err := netfilter.New(&netfilter.Config{
		Logger:        logger,
		NetNS:         ns,
		LANInterfaces: []string{"lan0"},
		DNS4:          netip.MustParseAddrPort("10.77.0.1:53"),
		Notice4:       netip.MustParseAddrPort("10.77.0.1:8480"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nf.Close() }) // after the checks: Close deletes the table
	eng, err := engine.New(&engine.Config{Store: db, Backends: []enforce.Backend{nf}, Logger: logger, VerifyInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := curfew.WithActor(t.Context(), curfew.Actor{Name: "admin", Role: curfew.RoleAdmin})
	if _, err := eng.Restrict(ctx, curfew.RestrictRequest{Subject: "device:02:00:00:00:00:01", Mode: curfew.ModeCutoff, Reason: "exam week", For: time.Hour}); err != nil {
		t.Fatal(err)
	}
	eng.Close()
	db.Close()
	before := curfewTable(t, ns)
	if !strings.Contains(before, "02:00:00:00:00:01") {
		t.Fatalf("the restricted device is not in the table:\n%s", before)
	}

	// The database is lost; the daemon starts again.
	removeDB(t, dir)
	code, stderr := refusedDaemon(t, ns, cfg, func() string {
		return curfewTable(t, ns) + strings.Join(dbFiles(t, dir), "\n")
	})
	if code != 1 {
		t.Errorf("curfew daemon exited %d, want 1", code)
	}
	if want := "curfew: daemon: refusing to use the state directory " + dir + ": curfew.db is missing"; !strings.HasPrefix(stderr, want) {
		t.Errorf("stderr = %q\nwant it to start %q", stderr, want)
	}
	if !strings.Contains(curfewTable(t, ns), "02:00:00:00:00:01") {
		t.Errorf("the restricted device is no longer in the table")
	}
}
