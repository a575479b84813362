//go:build integration

package integration

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/lab"
	"github.com/curfew/curfew/internal/netnstest"
)

// walkthroughBlock matches a shell block of docs/operation.md marked for
// the walkthrough: "<!-- walkthrough: NAME -->" and the ```sh block below.
var walkthroughBlock = regexp.MustCompile("(?s)<!-- walkthrough: ([a-z]+) -->\n```sh\n(.*?)```")

// walkthrough reads the marked blocks of docs/operation.md, by name.
func walkthrough(t *testing.T) map[string][]string {
	t.Helper()
	b, err := os.ReadFile("../docs/operation.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := map[string][]string{}
	for _, m := range walkthroughBlock.FindAllStringSubmatch(string(b), -1) {
		for _, line := range strings.Split(m[2], "\n") {
			if strings.TrimSpace(line) != "" {
				blocks[m[1]] = append(blocks[m[1]], line)
			}
		}
	}
	return blocks
}

// shellWords splits a command line as the shell does for the commands of
// the walkthrough: words, single and double quotes, and a comment after
// " #".
func shellWords(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '#' && !inWord:
			return words, nil
		case c == ' ' || c == '\t':
			if inWord {
				words, inWord = append(words, cur.String()), false
				cur.Reset()
			}
		case c == '"' || c == '\'':
			j := strings.IndexByte(line[i+1:], c)
			if j < 0 {
				return nil, errors.New("unclosed quote")
			}
			cur.WriteString(line[i+1 : i+1+j])
			i, inWord = i+1+j, true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// operator runs the walkthrough's commands on a lab gateway whose root
// file system is a scratch directory: what the operator would type on the
// gateway, with systemd's and dpkg's parts done by the test.
type operator struct {
	t     *testing.T
	l     *lab.Lab
	root  string // the gateway's file system
	deb   string // what make deb built
	cwd   string // relative to root
	token string
}

// path returns p, an absolute path on the gateway, in the scratch root.
func (o *operator) path(p string) string {
	if !filepath.IsAbs(p) {
		p = filepath.Join(o.cwd, p)
	}
	return filepath.Join(o.root, p)
}

// run runs one line of the walkthrough, failing the test if it fails or
// is not a command the walkthrough knows.
func (o *operator) run(line string) {
	t := o.t
	t.Helper()
	w, err := shellWords(line)
	if err != nil || len(w) == 0 {
		t.Fatalf("walkthrough line %q: %v", line, err)
	}
	t.Logf("$ %s", strings.Join(w, " "))
	switch cmd := strings.Join(w, " "); {
	case cmd == "make deb":
		o.deb = buildDeb(t)
	case cmd == "dpkg -i curfew.deb":
		dpkg(t, o.l, o.root, "-i", o.deb)
	case cmd == "dpkg --purge curfew":
		// Under systemd, prerm stops the daemon.
		if err := o.l.StopDaemon(); err != nil {
			t.Fatal(err)
		}
		dpkg(t, o.l, o.root, "--purge", "curfew")
	case w[0] == "$EDITOR" && len(w) == 2:
		if _, err := os.Stat(o.path(w[1])); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
	case cmd == "systemctl enable --now curfew", cmd == "systemctl start curfew":
		execStart := strings.Fields(unitValue(t, o.path("/usr/lib/systemd/system/curfew.service"), "ExecStart"))
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		if err := o.l.StartDaemonCommand(ctx, "chroot", append([]string{o.root}, execStart...)...); err != nil {
			t.Fatal(err)
		}
	case cmd == "systemctl stop curfew":
		if err := o.l.StopDaemon(); err != nil {
			t.Fatal(err)
		}
	case strings.HasPrefix(cmd, "export CURFEW_TOKEN=$(cat ") && strings.HasSuffix(cmd, ")") && len(w) == 3:
		b, err := os.ReadFile(o.path(strings.TrimSuffix(w[2], ")")))
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		o.token = strings.TrimSpace(string(b))
	case w[0] == "curfew":
		out, err := o.l.Gateway.Run(t.Context(), "env", append([]string{"CURFEW_TOKEN=" + o.token, "chroot", o.root, "/usr/bin/curfew"}, w[1:]...)...)
		// The page says when a command is to fail: "(exit 1)" in its
		// comment; audit verify after a restore names the lost events.
		if strings.HasSuffix(line, "(exit 1)") {
			if err == nil || !strings.Contains(err.Error(), "exit status 1") || !strings.Contains(err.Error(), "missing") {
				t.Fatalf("%s: %v, want exit 1 naming the missing events", line, err)
			}
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		t.Logf("%s", out)
	case w[0] == "cd" && len(w) == 2:
		o.cwd = w[1]
	case w[0] == "rm" && w[1] == "-f":
		for _, f := range w[2:] {
			if err := os.Remove(o.path(f)); err != nil && !os.IsNotExist(err) {
				t.Fatalf("%s: %v", line, err)
			}
		}
	case w[0] == "tar" && w[1] == "-xpf" && len(w) >= 3:
		args := append([]string{"-xpf", o.path(w[2]), "-C", o.path(".")}, w[3:]...)
		if out, err := exec.Command("tar", args...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", line, err, out)
		}
	default:
		t.Fatalf("the walkthrough of docs/operation.md has a command the test does not know how to run: %q", line)
	}
}

// TestOperationWalkthrough follows docs/operation.md from a clean machine:
// it runs the commands of the blocks marked for the walkthrough, as they
// are written, on a lab gateway whose file system is a scratch directory
// (systemd's and dpkg's parts done by the test): install, check, restrict
// a client, back up, lose the database, restore, remove. Between the
// blocks it checks what the page says should be so.
func TestOperationWalkthrough(t *testing.T) {
	t.Parallel()
	netnstest.New(t)
	blocks := walkthrough(t)
	for _, name := range []string{"install", "check", "backup", "restore", "remove"} {
		if len(blocks[name]) == 0 {
			t.Fatalf("docs/operation.md has no walkthrough block %q", name)
		}
	}

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

	// A clean Debian machine: a dpkg database, /root, /tmp, and a
	// resolv.conf from the WAN's DHCP.
	root := scratchRoot(t)
	for _, d := range []string{"root", "tmp", "etc"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "etc/resolv.conf"), []byte("nameserver "+lab.UpstreamV4.String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o := &operator{t: t, l: l, root: root, cwd: "/"}
	runBlock := func(name string) {
		t.Helper()
		for _, line := range blocks[name] {
			o.run(line)
		}
	}

	runBlock("install")
	runBlock("check")
	c1, c2 := l.Clients[0], l.Clients[1]
	if !strings.Contains(strings.Join(blocks["check"], "\n"), device(c1)) {
		t.Fatalf("the check block does not restrict %s, the lab's client 1", device(c1))
	}
	checkReach(t, false, c1)
	checkReach(t, true, c2)

	runBlock("backup")
	state := filepath.Join(root, "var/lib/curfew")
	// The database is lost while the daemon runs.
	if err := os.Remove(filepath.Join(state, "curfew.db")); err != nil {
		t.Fatal(err)
	}
	runBlock("restore") // ends with `curfew audit verify`, which names the events since the backup
	checkReach(t, false, c1)
	checkReach(t, true, c2)

	runBlock("remove")
	for _, f := range []string{"var/lib/curfew", "etc/curfew", "usr/bin/curfew"} {
		if _, err := os.Stat(filepath.Join(root, f)); !os.IsNotExist(err) {
			t.Errorf("after the removal /%s is still there (%v)", f, err)
		}
	}
}
