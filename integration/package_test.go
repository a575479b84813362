//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/api"
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
