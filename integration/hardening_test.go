//go:build integration

package integration

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/lab"
)

// linkLocal returns the gateway's IPv6 link-local address on the LAN.
func (g *gateway) linkLocal(t *testing.T) netip.Addr {
	t.Helper()
	out, err := g.Gateway.Run(t.Context(), "ip", "-6", "-o", "addr", "show", "dev", lab.LANInterface, "scope", "link")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Fields(out) {
		if p, err := netip.ParsePrefix(f); err == nil && p.Addr().IsLinkLocalUnicast() {
			return p.Addr()
		}
	}
	t.Fatalf("no link-local address on the gateway's %s: %q", lab.LANInterface, out)
	return netip.Addr{}
}

// TestResolverLinkLocal checks DNS to the gateway's IPv6 link-local
// address, which is what a client configured by router advertisements
// alone may use: names that must be forwarded (a cache miss) and the
// answers for a restricted client, which are both made away from the
// packet path, must reach the client on the link it asked from.
func TestResolverLinkLocal(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	c1, c2 := g.Clients[0], g.Clients[1]
	ll := g.linkLocal(t)
	server := netip.AddrPortFrom(ll.WithZone("eth0"), 53)
	name := probeName("ll", lab.NewsName)
	a, err := c2.Query(t.Context(), "udp", server, name, "AAAA", queryTimeout)
	if err != nil {
		t.Fatalf("client 2: a cache miss asked of the gateway's link-local address %s: %v", server, err)
	}
	checkResolves(t, "client 2: "+name+" AAAA at "+server.String(), a, lab.UpstreamV6)

	r1 := g.restrictWith(device(c1))
	name = probeName("ll-cut", lab.NewsName)
	a, err = c1.Query(t.Context(), "udp", server, name, "AAAA", queryTimeout)
	if err != nil {
		t.Fatalf("client 1 (cut off): a query to the gateway's link-local address %s: %v", server, err)
	}
	checkNotice(t, "client 1 (cut off): "+name+" AAAA at "+server.String(), a, lab.LANV6, r1.EndsAt, edeProhibited)
}

// TestResolverRefusesForeignSources checks that the resolver is no open
// resolver: a host beyond the WAN that can route to the LAN's addresses
// gets no answer, unless dns.allow_from names its prefix.
func TestResolverRefusesForeignSources(t *testing.T) {
	t.Parallel()
	for _, allowed := range []bool{false, true} {
		var conf lab.Config
		if allowed {
			conf.DNSAllowFrom = []string{"198.51.100.0/24", "2001:db8:100::/64"}
		}
		g := newGatewayWith(t, conf)
		for _, server := range []netip.Addr{lab.LANV4, lab.LANV6} {
			a, err := g.Upstream.Query(t.Context(), "udp", netip.AddrPortFrom(server, 53), lab.NewsName, "A", time.Second)
			switch {
			case allowed && err != nil:
				t.Errorf("a WAN-side host in dns.allow_from asking %s: %v, want an answer", server, err)
			case !allowed && err == nil:
				t.Errorf("a WAN-side host asking %s got %s, want no answer: the resolver serves only the LAN by default", server, a)
			}
			tcp, err := g.Upstream.Query(t.Context(), "tcp", netip.AddrPortFrom(server, 53), lab.NewsName, "A", time.Second)
			if !allowed && err == nil {
				t.Errorf("a WAN-side host asking %s over TCP got %s, want no answer", server, tcp)
			}
		}
		// LAN clients are served either way.
		if a, ok := query(t, g.Clients[1], "udp", lab.LANV4, lab.NewsName, "A"); ok {
			checkResolves(t, "client 2", a, lab.UpstreamV4)
		}
	}
}

// TestDaemonChecksLANInterfaces checks that the daemon refuses to start
// on a LAN interface that does not exist (every device rule would match
// nothing, silently) and with its API on an address LAN clients reach,
// leaving the kernel's table as it was; and that it reports a LAN
// interface that disappears while it runs.
func TestDaemonChecksLANInterfaces(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	g.restrictWith(device(g.Clients[0]))
	if err := g.StopDaemon(); err != nil {
		t.Fatal(err)
	}
	// After the stop: a stopped daemon's table is no longer owned.
	before := netnsRuleset(t, g)
	orig, err := os.ReadFile(g.ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	// A second address on the LAN interface, for the API.
	if _, err := g.Gateway.Run(t.Context(), "ip", "addr", "add", "10.50.0.2/24", "dev", lab.LANInterface); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, from, to, want string }{
		{"missing interface", "interfaces: [br-lan]", "interfaces: [br-lan, br-nope]", `"br-nope" does not exist`},
		{"api on a LAN address", "listen: 127.0.0.1:8470", "listen: 10.50.0.2:8470", "api.listen 10.50.0.2:8470 is on a LAN interface"},
	} {
		conf := strings.Replace(string(orig), tt.from, tt.to, 1)
		if conf == string(orig) {
			t.Fatalf("%s: the lab's configuration has no %q", tt.name, tt.from)
		}
		path := g.ConfigPath() + "." + strings.ReplaceAll(tt.name, " ", "-")
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		out, err := exec.CommandContext(ctx, "ip", "netns", "exec", g.Gateway.Name, curfewBin, "daemon", "--config", path).CombinedOutput()
		cancel()
		if code := exitCode(err); code != 1 || !strings.Contains(string(out), tt.want) {
			t.Errorf("%s: curfew daemon exited %d with %q, want 1 and %q", tt.name, code, out, tt.want)
		}
		if after := netnsRuleset(t, g); after != before {
			t.Errorf("%s: the refused start changed the kernel's table:\nbefore:\n%s\nafter:\n%s", tt.name, before, after)
		}
	}

	if err := g.StartDaemon(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Gateway.Run(t.Context(), "ip", "link", "set", lab.LANInterface, "name", "br-old"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(g.LogTail(50), "lan interface disappeared") {
		if time.Now().After(deadline) {
			t.Fatalf("renaming %s away was not reported in the daemon's log within 5 s", lab.LANInterface)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// netnsRuleset returns curfew's table in the gateway, without the
// counters and element expiry times that change by themselves.
func netnsRuleset(t *testing.T, g *gateway) string {
	t.Helper()
	out, err := g.Gateway.Run(t.Context(), "nft", "-s", "list", "table", "inet", "curfew")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if i := strings.Index(l, " expires "); i >= 0 {
			l = l[:i]
		}
		lines = append(lines, l)
	}
	return strings.Join(lines, "\n")
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if e, ok := err.(*exec.ExitError); ok {
		return e.ExitCode()
	}
	return -1
}
