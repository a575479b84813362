// Package netnstest gives tests their own Linux network namespaces: fresh
// anonymous or named namespaces, veth pairs between them, addresses, and a
// way to run code or commands inside one, all undone by t.Cleanup.
//
// Nothing in this package moves the calling test's thread into another
// namespace. Work inside a namespace runs on a helper goroutine that locks
// its OS thread, enters the namespace and returns without unlocking, so the
// runtime discards that thread instead of reusing it.
//
// New and Named skip the test when namespaces cannot be created (not root,
// no CAP_NET_ADMIN), unless the environment sets CURFEW_REQUIRE_NETNS=1: then
// they fail it, so that CI never passes by skipping.
package netnstest

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// RequireEnv is the environment variable that turns skips into failures.
const RequireEnv = "CURFEW_REQUIRE_NETNS"

// New creates a fresh anonymous network namespace and returns a file
// descriptor referring to it, closed at cleanup; the namespace disappears
// with the last reference to it. Its loopback interface is down.
func New(t testing.TB) int {
	t.Helper()
	fd, err := unshare()
	if err != nil {
		unavailable(t, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// Named creates a network namespace the way `ip netns add` does, so that
// `ip netns exec NAME` and `ip -n NAME` work on it, and returns its name and
// a file descriptor referring to it. Both are removed at cleanup.
func Named(t testing.TB) (name string, fd int) {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		unavailable(t, err)
	}
	probe, err := unshare()
	if err != nil {
		unavailable(t, err)
	}
	unix.Close(probe)
	name = fmt.Sprintf("curfew-test-%d-%d", os.Getpid(), seq.Add(1))
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		unavailable(t, fmt.Errorf("ip netns add %s: %v: %s", name, err, bytes.TrimSpace(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "delete", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns delete %s: %v: %s", name, err, bytes.TrimSpace(out))
		}
	})
	fd, err = unix.Open("/run/netns/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("opening namespace %s: %v", name, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return name, fd
}

var seq atomic.Int64 // makes Named names unique within the process

// unavailable skips t, or fails it when RequireEnv is set.
func unavailable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("cannot create a network namespace (%s=1): %v", RequireEnv, err)
	}
	t.Skipf("skipping: cannot create a network namespace (needs root with CAP_NET_ADMIN; set %s=1 to fail instead): %v", RequireEnv, err)
}

// unshare creates an anonymous network namespace on a throwaway thread and
// returns a descriptor for it.
func unshare() (int, error) {
	type result struct {
		fd  int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// Never unlocked: the thread ends up in the new namespace, and
		// returning from a locked goroutine makes the runtime end the thread.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			ch <- result{-1, fmt.Errorf("unsharing network namespace: %w", err)}
			return
		}
		fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			err = fmt.Errorf("opening new namespace: %w", err)
		}
		ch <- result{fd, err}
	}()
	r := <-ch
	return r.fd, r.err
}

// Do runs f on a locked OS thread inside the namespace ns and returns its
// error. Sockets f opens stay in ns and may be used after Do returns;
// goroutines f starts do not run in ns. Commands f starts with os/exec run
// in ns.
func Do(ns int, f func() error) error {
	ch := make(chan error, 1)
	go func() {
		// Never unlocked: see unshare.
		runtime.LockOSThread()
		if err := unix.Setns(ns, unix.CLONE_NEWNET); err != nil {
			ch <- fmt.Errorf("entering network namespace: %w", err)
			return
		}
		ch <- f()
	}()
	return <-ch
}

// Run runs a command inside ns and returns its standard output. It fails t
// if the command fails.
func Run(t testing.TB, ns int, name string, args ...string) string {
	t.Helper()
	out, err := Output(ns, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Output runs a command inside ns and returns its standard output, or an
// error that quotes the command and its standard error.
func Output(ns int, name string, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	err := Do(ns, func() error {
		cmd := exec.Command(name, args...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		return cmd.Run()
	})
	if err != nil {
		return stdout.String(), fmt.Errorf("running %s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return stdout.String(), nil
}

// Path returns a path to ns that other processes (ip, nsenter) can open
// while this process holds the descriptor.
func Path(ns int) string {
	return fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), ns)
}

// Veth creates a veth pair with end a in namespace nsA and end b in nsB,
// and sets lo and both ends up. Duplicate address detection is off on both
// ends, so their link-local IPv6 addresses are usable at once. It fails t
// on error. Both ends disappear with their namespaces.
func Veth(t testing.TB, nsA int, a string, nsB int, b string) {
	t.Helper()
	Run(t, nsA, "ip", "link", "add", "name", a, "type", "veth", "peer", "name", b, "netns", Path(nsB))
	Run(t, nsA, "sysctl", "-qw", "net.ipv6.conf."+a+".accept_dad=0")
	Run(t, nsB, "sysctl", "-qw", "net.ipv6.conf."+b+".accept_dad=0")
	Run(t, nsA, "ip", "link", "set", "dev", a, "up")
	Run(t, nsA, "ip", "link", "set", "dev", "lo", "up")
	Run(t, nsB, "ip", "link", "set", "dev", b, "up")
	Run(t, nsB, "ip", "link", "set", "dev", "lo", "up")
}

// Addr adds address p (an address with its prefix length, such as
// 10.0.0.1/24) to dev in ns. IPv6 addresses are added with nodad, so they
// are usable at once.
func Addr(t testing.TB, ns int, dev string, p netip.Prefix) {
	t.Helper()
	args := []string{"addr", "add", p.String(), "dev", dev}
	if p.Addr().Is6() {
		args = append(args, "nodad")
	}
	Run(t, ns, "ip", args...)
}

// Ruleset returns the output of `nft list ruleset` inside ns.
func Ruleset(t testing.TB, ns int) string {
	t.Helper()
	return Run(t, ns, "nft", "list", "ruleset")
}
