//go:build linux

package netfilter_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/netnstest"
)

// gatewayWAN returns the gateway's wan address of family f.
func (f family) gatewayWAN() netip.Addr {
	if f.name == "v4" {
		return netip.MustParseAddr("10.2.0.1")
	}
	return netip.MustParseAddr("fd00:2::1")
}

// dhcpPort is the DHCP server's port of family f.
func (f family) dhcpPort() uint16 {
	if f.name == "v4" {
		return 67
	}
	return 547
}

// restrictedCases are snapshots that restrict client1, one for each kind
// of restriction.
func restrictedCases(l *lab, f family) []struct {
	name string
	snap func() *curfew.Snapshot
} {
	device := func(e curfew.Enforcement) func() *curfew.Snapshot {
		return func() *curfew.Snapshot {
			now := time.Now()
			e.Until = now.Add(time.Hour)
			return &curfew.Snapshot{At: now, Devices: []*curfew.DeviceRule{{MAC: l.mac1, Enforcement: e}}}
		}
	}
	prefix := func(e curfew.Enforcement) func() *curfew.Snapshot {
		return func() *curfew.Snapshot {
			now := time.Now()
			e.Until = now.Add(time.Hour)
			return &curfew.Snapshot{At: now, Prefixes: []curfew.PrefixRule{{Prefix: f.client1Net, Enforcement: e}}}
		}
	}
	return []struct {
		name string
		snap func() *curfew.Snapshot
	}{
		{"cut-off device", device(curfew.Enforcement{Reach: curfew.ReachCutoff})},
		{"allowlist device", device(curfew.Enforcement{Reach: curfew.ReachAllowlist, AllowNames: []string{"news.example"}})},
		{"blocklist device", device(curfew.Enforcement{Reach: curfew.ReachBlocklist, BlockNames: []string{"games.example"}})},
		{"cut-off prefix", prefix(curfew.Enforcement{Reach: curfew.ReachCutoff})},
		{"blocklist prefix", prefix(curfew.Enforcement{Reach: curfew.ReachBlocklist, BlockNames: []string{"games.example"}})},
	}
}

// TestTrafficGatewayServices checks what a restricted client reaches on
// the gateway itself, in every mode: curfew's resolver and notice server,
// DHCP and the ICMPv6 of neighbour discovery. Any other service there (an
// SSH server, a proxy, a VPN endpoint), on the gateway's LAN or WAN
// address, would be a way out: it is refused as forwarded traffic is.
func TestTrafficGatewayServices(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			l := newRedirectLab(t)
			r := f.redirect()
			serveHello(t, l.gw, 22)
			serveEcho(t, l.gw, netip.AddrPortFrom(netip.IPv6Unspecified(), 5000))
			serveEcho(t, l.gw, netip.AddrPortFrom(netip.IPv6Unspecified(), f.dhcpPort()))
			ssh := []netip.AddrPort{netip.AddrPortFrom(r.gw, 22), netip.AddrPortFrom(f.gatewayWAN(), 22)}

			for _, c := range restrictedCases(l, f) {
				mustApply(t, l.b, c.snap())
				who := "client1 as a " + c.name
				for _, ap := range ssh {
					mustBeRefusedPort(t, who, l.client1, ap)
					mustReach(t, "client2", l.client2, ap)
				}
				mustEchoRefused(t, who, l.client1, netip.AddrPortFrom(r.gw, 5000))
				mustPingRefused(t, who, l.client1, r.gw)
				if f.name == "v6" {
					// Neighbour discovery from scratch: the gateway and
					// the client must solicit and advertise again.
					netnstest.Run(t, l.client1, "ip", "-6", "neigh", "flush", "dev", "c1")
					netnstest.Run(t, l.gw, "ip", "-6", "neigh", "flush", "dev", "lan1")
				}
				mustBeAnsweredByGateway(t, who, l.client1, netip.AddrPortFrom(f.upstream, 53))
				mustBeAnsweredByGateway(t, who, l.client1, netip.AddrPortFrom(r.gw, 53))
				mustGet(t, who, l.client1, netip.AddrPortFrom(r.gw, 80), "notice")
				mustGet(t, who, l.client1, netip.AddrPortFrom(r.gw, noticePort), "notice")
				if err := echo(l.client1, netip.AddrPortFrom(r.gw, f.dhcpPort())); err != nil {
					t.Errorf("%s sending to the DHCP port: %v", who, err)
				}
			}

			mustApply(t, l.b, &curfew.Snapshot{At: time.Now()}) // lift
			for _, ap := range ssh {
				mustReach(t, "client1 after lift", l.client1, ap)
			}
			if err := echo(l.client1, netip.AddrPortFrom(r.gw, 5000)); err != nil {
				t.Errorf("client1 after lift sending to udp 5000 on the gateway: %v", err)
			}
			mustPing(t, "client1 after lift", l.client1, r.gw)
		})
	}
}

// TestTrafficGatewayOwnFlows checks that a prefix of remote servers, cut
// off, does not cut the gateway's own connections to them, while those
// servers are refused the gateway's services.
func TestTrafficGatewayOwnFlows(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			l := newLab(t)
			mustTrack(t, l)
			serveHello(t, l.gw, 22)
			mustApply(t, l.b, prefixCut(f.upNet))
			mustConnect(t, "the gateway to a server in a cut-off prefix", l.gw, f.upstream)
			mustBeRefusedPort(t, "upstream in a cut-off prefix to the gateway", l.upstream, netip.AddrPortFrom(f.gatewayWAN(), 22))
		})
	}
}

// ping sends one ICMP echo request from ns to a and returns ping's
// output and error.
func ping(ns int, a netip.Addr) (string, error) {
	return netnstest.Output(ns, "ping", "-n", "-c", "1", "-W", "1", a.String())
}

// mustPing checks that a answers an echo request from ns.
func mustPing(t *testing.T, who string, ns int, a netip.Addr) {
	t.Helper()
	if out, err := ping(ns, a); err != nil {
		t.Errorf("%s pinging %s: %v: %s", who, a, err, out)
	}
}

// mustPingRefused checks that an echo request from ns to a is refused at
// once (an administratively-prohibited error, not silence).
func mustPingRefused(t *testing.T, who string, ns int, a netip.Addr) {
	t.Helper()
	start := time.Now()
	out, err := ping(ns, a)
	switch took := time.Since(start); {
	case err == nil:
		t.Errorf("%s pinging %s got an answer, want it refused: %s", who, a, out)
	case took > 500*time.Millisecond:
		t.Errorf("%s pinging %s was refused after %s, want at once: %s", who, a, took, out)
	}
}
