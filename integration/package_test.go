//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/api"
	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/lab"
	"github.com/curfew/curfew/internal/netnstest"
)

// debOnce builds the package once for the tests that install it.
var debOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "curfew-deb-")
	if err != nil {
		return "", err
	}
	debDir = dir
	deb := filepath.Join(dir, "curfew.deb")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// What `make deb` runs (TestMakeDebRunsTheBuildScript holds it to that).
	cmd := exec.CommandContext(ctx, "deploy/debian/build", deb, "1.0.0")
	cmd.Dir = ".."
	cmd.Env = os.Environ()
	if goroot := os.Getenv("GOROOT"); goroot != "" {
		cmd.Env = append(cmd.Env, "GO="+filepath.Join(goroot, "bin", "go"))
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the package: %v\n%s", err, out)
	}
	return deb, nil
})

// debDir holds the package debOnce built; TestMain removes it.
var debDir string

// buildDeb returns the package built as `make deb` builds it.
func buildDeb(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Fatalf("dpkg-deb is needed to build the package (Debian package dpkg): %v", err)
	}
	deb, err := debOnce()
	if err != nil {
		t.Fatal(err)
	}
	return deb
}

// TestMakeDebRunsTheBuildScript checks that `make deb` is the build script
// the package tests run.
func TestMakeDebRunsTheBuildScript(t *testing.T) {
	out, err := exec.Command("make", "--no-print-directory", "-C", "..", "-n", "deb").Output()
	if err != nil {
		t.Fatalf("make -n deb: %v", err)
	}
	if got := strings.TrimSpace(string(out)); !strings.HasPrefix(got, "deploy/debian/build curfew.deb") {
		t.Errorf("make deb runs %q, want deploy/debian/build curfew.deb", got)
	}
}

// scratchRoot returns an empty directory laid out for `dpkg --root`: a
// dpkg database and nothing else.
func scratchRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/log"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "var/lib/dpkg/status"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

// dpkg runs dpkg on the scratch root, inside the gateway's namespace (so
// that anything a maintainer script did to the network would stay there),
// and returns its output.
func dpkg(t *testing.T, g *lab.Lab, root string, args ...string) string {
	t.Helper()
	out, err := g.Gateway.Run(t.Context(), "dpkg", append([]string{"--root=" + root, "--force-script-chrootless"}, args...)...)
	if err != nil {
		t.Fatalf("dpkg %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// unitValue returns the value of key in the systemd unit file at path.
func unitValue(t *testing.T, path, key string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+"="); ok {
			return v
		}
	}
	t.Fatalf("%s has no %s=", path, key)
	return ""
}

// TestDebianPackage builds the package, installs it into a scratch root
// (never this machine's), and runs what systemd would run: the unit's
// ExecStart, in that root, on the lab's gateway, with the configuration
// the package installs left as it is. The daemon must find its addresses
// on br-lan and its resolvers in resolv.conf, and cut a client off while
// the others carry on, over IPv4 and IPv6. An upgrade must keep the
// restriction in force; a purge must remove the state and the
// configuration.
func TestDebianPackage(t *testing.T) {
	t.Parallel()
	netnstest.New(t)
	deb := buildDeb(t)

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	l, err := lab.New(ctx, lab.Config{Prefix: labPrefix(), Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("end of the daemon log:\n%s", l.LogTail(40))
		}
		if err := l.Close(); err != nil {
			t.Errorf("closing lab: %v", err)
		}
	})

	root := scratchRoot(t)
	out := dpkg(t, l, root, "-i", deb)
	t.Logf("dpkg -i:\n%s", out)
	for _, f := range []string{"usr/bin/curfew", "etc/curfew/curfew.yaml", "etc/curfew/doh.txt", "usr/lib/systemd/system/curfew.service"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Errorf("the package did not install /%s: %v", f, err)
		}
	}
	unit := filepath.Join(root, "usr/lib/systemd/system/curfew.service")
	for _, doc := range strings.Fields(unitValue(t, unit, "Documentation")) {
		p, ok := strings.CutPrefix(doc, "file://")
		if !ok {
			continue
		}
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("the unit's Documentation= names %s, which the package does not install", doc)
		}
	}
	shipped, err := os.ReadFile("../deploy/curfew.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if installed, _ := os.ReadFile(filepath.Join(root, "etc/curfew/curfew.yaml")); string(installed) != string(shipped) {
		t.Errorf("the installed /etc/curfew/curfew.yaml is not deploy/curfew.yaml")
	}

	// The state postinst made, and the first admin token it kept.
	state := filepath.Join(root, "var/lib/curfew")
	if fi, err := os.Stat(state); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("state directory after install: %v, %v; want mode 0700", fi, err)
	}
	tokenFile := filepath.Join(root, "etc/curfew/admin-token")
	b, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatalf("the first admin token: %v", err)
	}
	if fi, _ := os.Stat(tokenFile); fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", tokenFile, fi.Mode().Perm())
	}
	token := strings.TrimSpace(string(b))

	// What the machine has besides the package: a resolv.conf from its
	// WAN's DHCP, naming the upstream resolver, and a /tmp.
	if err := os.WriteFile(filepath.Join(root, "etc/resolv.conf"), []byte("# from the WAN's DHCP\nnameserver "+lab.UpstreamV4.String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "tmp"), 0o1777); err != nil {
		t.Fatal(err)
	}

	// systemd's part: run ExecStart, in the root.
	execStart := strings.Fields(unitValue(t, unit, "ExecStart"))
	startCtx, cancelStart := context.WithTimeout(t.Context(), time.Minute)
	defer cancelStart()
	if err := l.StartDaemonCommand(startCtx, "chroot", append([]string{root}, execStart...)...); err != nil {
		t.Fatal(err)
	}
	if log := l.LogTail(40); !strings.Contains(log, "forwarding to the system's resolvers") || !strings.Contains(log, lab.UpstreamV4.String()) {
		t.Errorf("the daemon did not say it forwards to the resolver of resolv.conf:\n%s", log)
	}
	c, err := api.NewClient(l.APIURL(), token, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := &gateway{Lab: l, t: t, token: token, api: c}
	c1, c2 := l.Clients[0], l.Clients[1]
	checkReach(t, true, c1, c2)

	g.restrict(device(c1), "1h", "integration: package")
	checkReach(t, false, c1)
	checkReach(t, true, c2)
	// DNS goes through curfew's resolver to the system's resolver.
	if a, ok := query(t, c2, "udp", lab.LANV4, lab.NewsName, "A"); ok && len(a.Addrs) == 0 {
		t.Errorf("client 2: %s A through the gateway = %s, want an answer from the upstream", lab.NewsName, a)
	}

	// An upgrade (the same version again: dpkg runs the scripts of an
	// upgrade): the restriction stays in force throughout.
	before := g.nft("list", "table", "inet", "curfew")
	dpkg(t, l, root, "-i", deb)
	if after := g.nft("list", "table", "inet", "curfew"); !strings.Contains(after, c1.MAC.String()) {
		t.Errorf("after the upgrade the table lost client 1:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	checkReach(t, false, c1)
	if _, err := os.Stat(tokenFile); err != nil {
		t.Errorf("the upgrade removed the admin token: %v", err)
	}

	// Purge: the state and the configuration go.
	if err := l.StopDaemon(); err != nil {
		t.Fatal(err)
	}
	dpkg(t, l, root, "--purge", "curfew")
	for _, f := range []string{"var/lib/curfew", "etc/curfew", "usr/bin/curfew"} {
		if _, err := os.Stat(filepath.Join(root, f)); !os.IsNotExist(err) {
			t.Errorf("after purge /%s is still there (%v)", f, err)
		}
	}
}

// TestDebianPurgeDeletesTables checks the promise of `dpkg --purge
// curfew` on a running gateway: every table curfew owns goes, and the
// qdiscs of its throttles, so that a restricted client and a quarantined
// one both reach the internet again, over IPv4 and IPv6. The daemon is stopped first, as dpkg's prerm does,
// and its tables stay in the kernel then, still enforcing. dpkg runs the
// package's postrm twice here: with --root, where it must leave the
// kernel alone (the root is not the running system), and then as on the
// gateway itself, in a root of its own holding only a shell and nft.
func TestDebianPurgeDeletesTables(t *testing.T) {
	t.Parallel()
	netnstest.New(t)
	deb := buildDeb(t)

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	l, err := lab.New(ctx, lab.Config{Prefix: labPrefix(), Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("end of the daemon log:\n%s", l.LogTail(40))
		}
		if err := l.Close(); err != nil {
			t.Errorf("closing lab: %v", err)
		}
	})

	root := scratchRoot(t)
	dpkg(t, l, root, "-i", deb)
	// The shipped configuration with unknown devices quarantined, so that
	// the gateway holds both of curfew's tables.
	conf := filepath.Join(root, "etc/curfew/curfew.yaml")
	b, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	quarantined := strings.Replace(string(b), "lan:\n", "lan:\n  unknown_devices: quarantine\n", 1)
	if quarantined == string(b) {
		t.Fatal("the shipped configuration has no lan: section to add unknown_devices to")
	}
	if err := os.WriteFile(conf, []byte(quarantined), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/resolv.conf"), []byte("nameserver "+lab.UpstreamV4.String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "tmp"), 0o1777); err != nil {
		t.Fatal(err)
	}
	token, err := os.ReadFile(filepath.Join(root, "etc/curfew/admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	execStart := strings.Fields(unitValue(t, filepath.Join(root, "usr/lib/systemd/system/curfew.service"), "ExecStart"))
	if err := l.StartDaemonCommand(ctx, "chroot", append([]string{root}, execStart...)...); err != nil {
		t.Fatal(err)
	}
	c, err := api.NewClient(l.APIURL(), strings.TrimSpace(string(token)), nil)
	if err != nil {
		t.Fatal(err)
	}
	g := &gateway{Lab: l, t: t, token: strings.TrimSpace(string(token)), api: c}
	c1, c2 := l.Clients[0], l.Clients[1]
	// Client 1 is registered and restricted; client 2 is unknown, so
	// quarantined.
	if _, err := c.AddDevice(ctx, &curfew.Device{MAC: c1.MAC, Name: "client 1"}); err != nil {
		t.Fatal(err)
	}
	g.restrict(device(c1), "1h", "integration: purge")
	checkReach(t, false, c1, c2)
	// Client 3 is registered and throttled: the shaper's table and qdiscs.
	c3 := l.Clients[2]
	if _, err := c.AddDevice(ctx, &curfew.Device{MAC: c3.MAC, Name: "client 3"}); err != nil {
		t.Fatal(err)
	}
	g.throttle(device(c3), "1h", "integration: purge a throttle")
	qdiscs := func() string {
		out, err := l.Gateway.Command(ctx, "tc", "qdisc", "show").CombinedOutput()
		if err != nil {
			t.Fatalf("tc qdisc show: %v: %s", err, out)
		}
		var ours []string
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(line, "qdisc htb cf: ") {
				ours = append(ours, line)
			}
		}
		return strings.Join(ours, "\n")
	}
	// The shipped configuration's WAN interface, eth0, is not the lab's.
	if got := qdiscs(); !strings.Contains(got, "htb cf: dev "+lab.LANInterface+" root") {
		t.Fatalf("the throttling gateway has the qdiscs %q, want curfew's HTB on %s", got, lab.LANInterface)
	}

	// prerm stops the daemon; the tables stay and still enforce.
	if err := l.StopDaemon(); err != nil {
		t.Fatal(err)
	}
	tables := func() []string {
		var out []string
		for _, line := range strings.Split(g.nft("list", "tables"), "\n") {
			if f := strings.Fields(line); len(f) == 3 && f[1] == "inet" && strings.HasPrefix(f[2], "curfew") {
				out = append(out, f[2])
			}
		}
		slices.Sort(out)
		return out
	}
	if got := tables(); !slices.Equal(got, []string{"curfew", "curfew_quarantine", "curfew_shaper", "curfew_windows"}) {
		t.Fatalf("with the daemon stopped the gateway has the tables %v, want curfew, curfew_quarantine, curfew_shaper and curfew_windows", got)
	}
	checkReach(t, false, c1, c2)

	// Keep the postrm before dpkg purges it with the rest of the package.
	postrm, err := os.ReadFile(filepath.Join(root, "var/lib/dpkg/info/curfew.postrm"))
	if err != nil {
		t.Fatal(err)
	}
	dpkg(t, l, root, "--purge", "curfew")
	if got := tables(); len(got) != 4 || qdiscs() == "" {
		t.Errorf("dpkg --root --purge changed the kernel's tables to %v (or deleted the qdiscs); a root that is not the running system's must leave them", got)
	}

	// The postrm as dpkg runs it on the gateway: no DPKG_ROOT, with nft on
	// the PATH, in a root where it can delete only its own files.
	live := t.TempDir()
	toolbox(t, live, "/usr/bin/sh", "/usr/bin/rm", "/usr/bin/rmdir", "/usr/bin/grep", "/usr/sbin/nft", "/usr/sbin/tc")
	for _, d := range []string{"var/lib/curfew", "etc/curfew"} {
		if err := os.MkdirAll(filepath.Join(live, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(live, "postrm"), postrm, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := l.Gateway.Command(ctx, "chroot", live, "/usr/bin/sh", "-c", "unset DPKG_ROOT; PATH=/usr/sbin:/usr/bin exec /usr/bin/sh /postrm purge").CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("postrm purge: %v, output %q; want it quiet", err, out)
	}
	if got := tables(); len(got) != 0 {
		t.Errorf("after purge the gateway still has the tables %v", got)
	}
	if got := qdiscs(); got != "" {
		t.Errorf("after purge the gateway still has the qdiscs %q", got)
	}
	checkReach(t, true, c1, c2)
	if _, err := os.Stat(filepath.Join(live, "var/lib/curfew")); !os.IsNotExist(err) {
		t.Errorf("postrm purge left /var/lib/curfew (%v)", err)
	}
}

// toolbox copies the programs progs, and the shared libraries ldd says
// they load, to the same paths under root, so that they run in it with
// chroot.
func toolbox(t *testing.T, root string, progs ...string) {
	t.Helper()
	files := map[string]bool{}
	for _, p := range progs {
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			t.Fatal(err)
		}
		files[real] = true
		copyFile(t, real, filepath.Join(root, p))
		out, err := exec.Command("ldd", real).Output()
		if err != nil {
			t.Fatalf("ldd %s: %v", real, err)
		}
		for _, line := range strings.Split(string(out), "\n") {
			for _, f := range strings.Fields(line) {
				if strings.HasPrefix(f, "/") {
					files[f] = true
				}
			}
		}
	}
	for f := range files {
		copyFile(t, f, filepath.Join(root, f))
	}
	// The shell's redirections need /dev/null: character device 1, 3.
	if err := os.MkdirAll(filepath.Join(root, "dev"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mknod(filepath.Join(root, "dev/null"), syscall.S_IFCHR|0o666, 1<<8|3); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}
