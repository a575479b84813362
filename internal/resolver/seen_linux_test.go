//go:build linux

package resolver_test

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/engine"
	"github.com/curfew/curfew/internal/identify"
	"github.com/curfew/curfew/internal/netnstest"
	"github.com/curfew/curfew/internal/resolver"
	"github.com/curfew/curfew/internal/sqlite"
)

// TestQueriesMakeADeviceSeen: a device that does nothing on the LAN but
// ask curfew's resolver, over IPv4 and over IPv6, is a device seen
// (`curfew devices --seen`, the engine's SeenDevices), with the address it
// asked from, and its last seen time moves with its queries. The gateway
// knows the device from static neighbour entries, which the kernel never
// reports again, so its queries are the only sign of it: without them it
// would stay at the time the gateway started until the next full re-read
// of the neighbour table, a minute later.
func TestQueriesMakeADeviceSeen(t *testing.T) {
	gw, client := netnstest.New(t), netnstest.New(t)
	netnstest.Veth(t, gw, "lan0", client, "eth0")
	netnstest.Addr(t, gw, "lan0", netip.MustParsePrefix("10.9.0.1/24"))
	netnstest.Addr(t, gw, "lan0", netip.MustParsePrefix("fd00:9::1/64"))
	netnstest.Addr(t, client, "eth0", netip.MustParsePrefix("10.9.0.2/24"))
	netnstest.Addr(t, client, "eth0", netip.MustParsePrefix("fd00:9::2/64"))
	const mac = "02:00:00:00:09:02"
	netnstest.Run(t, client, "ip", "link", "set", "dev", "eth0", "address", mac)
	gwMAC := linkMAC(t, gw, "lan0")
	for _, a := range []string{"10.9.0.2", "fd00:9::2"} {
		netnstest.Run(t, gw, "ip", "neigh", "replace", a, "lladdr", mac, "dev", "lan0", "nud", "permanent")
	}
	for _, a := range []string{"10.9.0.1", "fd00:9::1"} {
		netnstest.Run(t, client, "ip", "neigh", "replace", a, "lladdr", gwMAC, "dev", "eth0", "nud", "permanent")
	}

	tab, err := identify.New(&identify.Config{NetNS: gw, Interfaces: []string{"lan0"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tab.Close)
	db, err := sqlite.Open(t.Context(), ":memory:", &sqlite.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	eng, err := engine.New(&engine.Config{Store: db, Logger: slog.New(slog.DiscardHandler), VerifyInterval: -1,
		GatewayAddrs: func() ([]netip.Addr, error) { return nil, nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	ctx := curfew.WithActor(t.Context(), curfew.Actor{Name: "olga", Role: curfew.RoleViewer})
	// seen hands the table's sightings to the engine, as the daemon does
	// every second, and returns the device as `devices --seen` shows it.
	seen := func() *curfew.SeenDevice {
		t.Helper()
		ss, dropped := tab.Sightings()
		if err := eng.RecordSeen(ctx, ss, dropped); err != nil {
			t.Fatal(err)
		}
		devs, err := eng.SeenDevices(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range devs {
			if d.MAC.String() == mac {
				return d
			}
		}
		return nil
	}
	before := seen()
	if before == nil {
		t.Fatalf("the device of the static neighbour entries is not seen at start")
	}

	r, err := resolver.New(&resolver.Config{
		Listen:   []netip.AddrPort{netip.MustParseAddrPort("10.9.0.1:0"), netip.MustParseAddrPort("[fd00:9::1]:0")},
		Identify: tab,
		Seen:     tab.Saw,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := netnstest.Do(gw, func() error { return r.Start(t.Context()) }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })

	last := before.LastSeen
	for _, server := range r.LocalAddrs() {
		asked := time.Now().Truncate(time.Millisecond)
		if !asked.After(last) {
			asked = last.Add(time.Millisecond)
			for !time.Now().After(asked) {
				// Let the clock pass the last sighting, so that a
				// query's can be told from it: a millisecond at most.
				time.Sleep(100 * time.Microsecond)
			}
		}
		queryFrom(t, client, server)
		deadline := time.Now().Add(3 * time.Second)
		var d *curfew.SeenDevice
		for d = seen(); d.LastSeen.Before(asked); d = seen() {
			if time.Now().After(deadline) {
				t.Fatalf("after a query to %s at %s, the device's last seen is still %s (first seen %s)",
					server, asked.Format(time.StampMilli), d.LastSeen.Format(time.StampMilli), d.FirstSeen.Format(time.StampMilli))
			}
			time.Sleep(20 * time.Millisecond)
		}
		wantAddr := netip.MustParseAddr("10.9.0.2")
		if server.Addr().Is6() {
			wantAddr = netip.MustParseAddr("fd00:9::2")
		}
		if !slices.Contains(d.Addrs, wantAddr) {
			t.Errorf("after a query to %s, the device's addresses are %v, want %s among them", server, d.Addrs, wantAddr)
		}
		if d.FirstSeen != before.FirstSeen {
			t.Errorf("first seen moved from %s to %s", before.FirstSeen, d.FirstSeen)
		}
		last = d.LastSeen
	}
}

// queryFrom sends one query from inside the namespace ns to server and
// waits for its answer, whatever it is.
func queryFrom(t *testing.T, ns int, server netip.AddrPort) {
	t.Helper()
	err := netnstest.Do(ns, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		m := new(dns.Msg)
		m.SetQuestion("www.example.test.", dns.TypeA)
		_, _, err := (&dns.Client{Net: "udp"}).ExchangeContext(ctx, m, server.String())
		return err
	})
	if err != nil {
		t.Fatalf("asking %s: %v", server, err)
	}
}

// linkMAC returns the MAC of dev in ns.
func linkMAC(t *testing.T, ns int, dev string) string {
	t.Helper()
	var mac string
	err := netnstest.Do(ns, func() error {
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		mac = ifi.HardwareAddr.String()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return mac
}
