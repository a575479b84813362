//go:build integration

package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"net/netip"

	"github.com/curfew/curfew/internal/lab"
)

// dnsmasqCaptiveURL is the RFC 8908 API URI the tests' dnsmasq hands out
// in DHCP option 114, as docs/captive-portal.md shows.
const dnsmasqCaptiveURL = "https://notice.example.org:8480/captive-portal/api"

// dnsmasq is the real dnsmasq (Debian's dnsmasq-base) running in the
// gateway namespace beside curfew.
type dnsmasq struct {
	log    string // its log file: queries and DHCP
	leases string // its lease file
}

// startDnsmasq runs dnsmasq in the gateway namespace with args after the
// test's own (no configuration file, in the foreground, logging to a
// file, as root so it can write the test's directory) and stops it at
// cleanup. It waits until dnsmasq has logged that it started.
func startDnsmasq(t *testing.T, g *gateway, dir string, args ...string) *dnsmasq {
	t.Helper()
	if _, err := exec.LookPath("dnsmasq"); err != nil {
		t.Fatalf("these tests need the dnsmasq binary (Debian's dnsmasq-base): %v", err)
	}
	d := &dnsmasq{log: filepath.Join(dir, "dnsmasq.log"), leases: filepath.Join(dir, "dnsmasq.leases")}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := g.Gateway.Command(ctx, "dnsmasq", append([]string{
		"--keep-in-foreground", "--conf-file=/dev/null", "--user=root", "--group=root",
		"--pid-file=" + filepath.Join(dir, "dnsmasq.pid"),
		"--log-facility=" + d.log, "--dhcp-leasefile=" + d.leases,
	}, args...)...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cancel()
		<-exited
		if t.Failed() {
			b, _ := os.ReadFile(d.log)
			t.Logf("dnsmasq log:\n%s%s", b, out.String())
		}
	})
	if _, ok := waitUntil(10*time.Second, 20*time.Millisecond, func() bool {
		select {
		case <-exited:
			return true
		default:
		}
		b, _ := os.ReadFile(d.log)
		return strings.Contains(string(b), "started, version")
	}); !ok {
		t.Fatal("dnsmasq did not start within 10s")
	}
	select {
	case <-exited:
		t.Fatalf("dnsmasq exited at start: %s", out.String())
	default:
	}
	return d
}

func (d *dnsmasq) logText(t *testing.T) string {
	b, err := os.ReadFile(d.log)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// dhcpArgs serve DHCP on the lab's LAN bridge with the captive-portal URI.
var dhcpArgs = []string{
	"--dhcp-range=10.50.0.100,10.50.0.150,255.255.255.0,1h", "--dhcp-authoritative",
	"--dhcp-option=option:dns-server,10.50.0.1",
	"--dhcp-option=114," + dnsmasqCaptiveURL,
	"--log-dhcp",
}

// checkLease runs a DHCP exchange for c and checks what a phone relies on:
// an address in the range, curfew's resolver as DNS server, and the
// captive-portal API URI.
func checkLease(t *testing.T, c *lab.Client, hostname string) *dhcpLease {
	t.Helper()
	l, err := dhcpLeaseFor(t.Context(), c, hostname)
	if err != nil {
		t.Fatalf("client %d: %v", c.Index, err)
	}
	if !netip.MustParsePrefix("10.50.0.0/24").Contains(l.Addr) || l.Server != lab.LANV4 {
		t.Errorf("client %d: lease of %s from %s, want one of 10.50.0.100-150 from %s", c.Index, l.Addr, l.Server, lab.LANV4)
	}
	if got := string(l.Options[114]); got != dnsmasqCaptiveURL {
		t.Errorf("client %d: DHCP option 114 = %q, want %q", c.Index, got, dnsmasqCaptiveURL)
	}
	if dns, _ := netip.AddrFromSlice(l.Options[6]); dns != lab.LANV4 {
		t.Errorf("client %d: DHCP option 6 = %v, want curfew's resolver %s", c.Index, l.Options[6], lab.LANV4)
	}
	return l
}

// TestDnsmasqDHCPOnly is the first way of docs/dnsmasq.md: dnsmasq keeps
// the LAN's DHCP with port=0 and leaves DNS to curfew. Both run on the
// gateway; a cut-off client still gets its lease, with the
// captive-portal URI, and curfew answers DNS.
func TestDnsmasqDHCPOnly(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	g := newGatewayWith(t, lab.Config{DHCPLeases: []string{filepath.Join(dir, "dnsmasq.leases")}})
	d := startDnsmasq(t, g, dir, append([]string{"--port=0", "--interface=" + lab.LANInterface, "--bind-interfaces"}, dhcpArgs...)...)
	c1, c2 := g.Clients[0], g.Clients[1]
	g.restrict(device(c1), "10m", "integration: dnsmasq DHCP only")

	checkLease(t, c1, "phone-1")
	checkLease(t, c2, "laptop-2")
	leases, err := os.ReadFile(d.leases)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		c    *lab.Client
		name string
	}{{c1, "phone-1"}, {c2, "laptop-2"}} {
		if !strings.Contains(string(leases), c.c.MAC.String()) || !strings.Contains(string(leases), c.name) {
			t.Errorf("dnsmasq's lease file lacks client %d (%s, %s):\n%s", c.c.Index, c.c.MAC, c.name, leases)
		}
	}
	for _, q := range qtypes {
		if a, ok := query(t, c2, "udp", lab.LANV4, lab.NewsName, q.qtype); ok {
			if want := wantAddr(q.qtype, lab.UpstreamV4, lab.UpstreamV6); len(a.Addrs) != 1 || a.Addrs[0] != want {
				t.Errorf("client 2: %s %s through curfew = %s, want %s", lab.NewsName, q.qtype, a, want)
			}
		}
		if a, ok := query(t, c1, "udp", lab.LANV4, lab.NewsName, q.qtype); ok {
			if len(a.Addrs) != 1 || a.Addrs[0] != q.notice {
				t.Errorf("cut-off client 1: %s %s = %s, want the notice address %s", lab.NewsName, q.qtype, a, q.notice)
			}
		}
	}
	checkReach(t, false, c1)
	checkReach(t, true, c2)
}

// TestDnsmasqUpstream is the second way of docs/dnsmasq.md: dnsmasq
// listens on 127.0.0.1 only, and curfew forwards to it, so the LAN's
// local names (its address records, its DHCP clients' host names) keep
// resolving through curfew, while a cut-off client's queries never reach
// it.
func TestDnsmasqUpstream(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	g := newGatewayWith(t, lab.Config{
		DNSListen:    netip.AddrPortFrom(lab.LANV4, 5300).String(),
		DNSUpstreams: []string{"127.0.0.1:53"},
		DHCPLeases:   []string{filepath.Join(dir, "dnsmasq.leases")},
	})
	d := startDnsmasq(t, g, dir, append([]string{
		"--interface=" + lab.LANInterface, "--listen-address=127.0.0.1", "--bind-interfaces",
		"--no-resolv", "--server=" + lab.UpstreamV4.String(),
		"--domain=lan", "--local=/lan/", "--expand-hosts",
		"--address=/printer.lan/10.50.0.50", "--host-record=nas.lan,10.50.0.51,fd00:50::51",
		"--log-queries",
	}, dhcpArgs...)...)
	c1, c2 := g.Clients[0], g.Clients[1]
	lease := checkLease(t, c2, "laptop-2")
	g.restrict(device(c1), "10m", "integration: dnsmasq upstream")

	for _, q := range []struct {
		name, qtype string
		want        netip.Addr
	}{
		{"printer.lan", "A", netip.MustParseAddr("10.50.0.50")},
		{"nas.lan", "A", netip.MustParseAddr("10.50.0.51")},
		{"nas.lan", "AAAA", netip.MustParseAddr("fd00:50::51")},
		{"laptop-2.lan", "A", lease.Addr}, // dnsmasq's DHCP client
		{lab.NewsName, "A", lab.UpstreamV4},
	} {
		for _, server := range gatewayDNS { // port 53, v4 and v6: redirected to curfew
			if a, ok := query(t, c2, "udp", server, q.name, q.qtype); ok && (len(a.Addrs) != 1 || a.Addrs[0] != q.want) {
				t.Errorf("client 2: %s %s through curfew at %s = %s, want %s", q.name, q.qtype, server, a, q.want)
			}
		}
	}
	const probe = "cut-off-probe.lan"
	for _, q := range qtypes {
		for _, server := range gatewayDNS {
			if a, ok := query(t, c1, "udp", server, probe, q.qtype); ok && (len(a.Addrs) != 1 || a.Addrs[0] != q.notice) {
				t.Errorf("cut-off client 1: %s %s at %s = %s, want the notice address %s", probe, q.qtype, server, a, q.notice)
			}
		}
	}
	log := d.logText(t)
	if !strings.Contains(log, "query[A] printer.lan from 127.0.0.1") {
		t.Errorf("dnsmasq did not log curfew's query for printer.lan from 127.0.0.1:\n%s", log)
	}
	if strings.Contains(log, probe) {
		t.Errorf("a cut-off client's query reached dnsmasq:\n%s", log)
	}
}
