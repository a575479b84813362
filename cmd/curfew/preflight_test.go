package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/netnstest"
)

// setupNS returns a namespace with the interfaces of testConfig: lan0
// (10.77.0.1/24, fd00:77::1/64) and wan0.
func setupNS(t *testing.T) int {
	t.Helper()
	ns := netnstest.New(t)
	for _, args := range [][]string{
		{"link", "set", "dev", "lo", "up"},
		{"link", "add", "lan0", "type", "veth", "peer", "name", "lan1"},
		{"link", "add", "wan0", "type", "veth", "peer", "name", "wan1"},
		{"link", "set", "dev", "lan0", "up"},
		{"link", "set", "dev", "wan0", "up"},
		{"addr", "add", "10.77.0.1/24", "dev", "lan0"},
		{"addr", "add", "fd00:77::1/64", "dev", "lan0", "nodad"},
	} {
		netnstest.Run(t, ns, "ip", args...)
	}
	return ns
}

// TestDaemonRefusesWhatTheMachineLacks starts the daemon, in a namespace,
// on configurations the machine cannot honour: each must be refused on one
// line that names the key, the value and the fix, with exit 1, before
// anything reaches the kernel's firewall.
func TestDaemonRefusesWhatTheMachineLacks(t *testing.T) {
	badDoH := filepath.Join(t.TempDir(), "doh.txt")
	tests := []struct {
		name  string
		extra string // appended to testConfig
		lan   string // replaces testConfig's lan section, if set
		want  string // the line, after "curfew: daemon: config FILE: "
	}{
		{"address absent", "", "lan:\n  interfaces: [lan0]\n  address: 10.77.0.9\n",
			"lan.address: 10.77.0.9 is not an address of lan0 (it has 10.77.0.1); set lan.address to one of them, or leave it out to use the first"},
		{"interface absent", "", "lan:\n  interfaces: [br-lan]\n",
			"lan.interfaces: \"br-lan\" does not exist on this machine; create it or list the interface the clients are behind (see `ip link`)"},
		{"doh list missing", "  doh_list: /nonexistent/doh.txt\n", "",
			"dns.doh_list: /nonexistent/doh.txt does not exist; create it (one address per line, # comments) or remove the key to use the list curfew carries"},
		{"doh list malformed", "  doh_list: " + badDoH + "\n", "",
			"dns.doh_list: %s: line 2: parsing address \"not-an-address\""},
		{"notice port taken", "", "",
			"notice.listen 10.77.0.1:8480: port 8480/tcp is taken by "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(badDoH, []byte("192.0.2.1\nnot-an-address\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			ns := setupNS(t)
			cfg, _, _ := newState(t)
			b, err := os.ReadFile(cfg)
			if err != nil {
				t.Fatal(err)
			}
			conf := string(b) + "dns:\n  upstreams: [198.51.100.53]\n" + tt.extra
			if tt.lan != "" {
				conf = strings.Replace(conf, "lan:\n  interfaces: [lan0]\n  address: 10.77.0.1\n", tt.lan, 1)
			}
			if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
				t.Fatal(err)
			}
			if tt.name == "notice port taken" {
				var ln net.Listener
				if err := netnstest.Do(ns, func() (err error) { ln, err = net.Listen("tcp", "10.77.0.1:8480"); return err }); err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
			}
			code, stderr := refusedDaemon(t, ns, cfg, func() string { return netnstest.Run(t, ns, "nft", "list", "ruleset") })
			checkRefusal(t, code, stderr, "curfew: daemon: config "+cfg+": "+strings.Replace(tt.want, "%s", badDoH, 1))
		})
	}
}

// checkRefusal fails t unless the daemon exited 1 with one line on stderr
// that starts with want.
func checkRefusal(t *testing.T, code int, stderr, want string) {
	t.Helper()
	if code != 1 {
		t.Errorf("curfew daemon exited %d, want 1", code)
	}
	if !strings.HasPrefix(stderr, want) {
		t.Errorf("stderr = %q\nwant it to start %q", stderr, want)
	}
	if n := strings.Count(stderr, "\n"); n != 1 {
		t.Errorf("stderr has %d lines, want one:\n%s", n, stderr)
	}
}

// TestDaemonBesideDnsmasq starts the daemon, in a namespace, where
// dnsmasq already answers DNS on every address, as Debian's dnsmasq does
// unless told otherwise: the daemon must say that dnsmasq holds port 53
// and how to share the machine with it, and touch nothing.
func TestDaemonBesideDnsmasq(t *testing.T) {
	dnsmasq, err := exec.LookPath("dnsmasq")
	if err != nil {
		if os.Getenv("CURFEW_REQUIRE_NETNS") == "1" {
			t.Fatal("dnsmasq is not installed (Debian package dnsmasq-base)")
		}
		t.Skip("dnsmasq is not installed (Debian package dnsmasq-base)")
	}
	ns := setupNS(t)
	cfg, _, _ := newState(t)
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, append(b, "dns:\n  upstreams: [198.51.100.53]\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := exec.Command(dnsmasq, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
		"--user=root", "--pid-file="+filepath.Join(dir, "pid"), "--dhcp-leasefile="+filepath.Join(dir, "leases"), "--port=53")
	cmd.Stderr = os.Stderr
	if err := netnstest.Do(ns, cmd.Start); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		// Asked of the kernel's socket table, not by binding port 53
		// ourselves, which would race dnsmasq's own bind.
		if strings.Contains(netnstest.Run(t, ns, "ss", "-Hlun", "sport = :53"), ":53") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("dnsmasq did not take port 53 within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}

	code, stderr := refusedDaemon(t, ns, cfg, func() string { return netnstest.Run(t, ns, "nft", "list", "ruleset") })
	checkRefusal(t, code, stderr, fmt.Sprintf("curfew: daemon: config %s: dns.listen 10.77.0.1:53: port 53/udp is taken by dnsmasq (pid %d); leave DNS to curfew: put port=0 in dnsmasq's configuration", cfg, cmd.Process.Pid))
	if !strings.Contains(stderr, `set dns.upstreams: ["127.0.0.1"]`) {
		t.Errorf("stderr = %q, want it to give the second way, dnsmasq as upstream on 127.0.0.1", stderr)
	}
}
