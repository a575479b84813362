//go:build linux

package neighbor_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/neighbor"
	"github.com/curfew/curfew/internal/netnstest"
)

func TestLookup(t *testing.T) {
	gw := netnstest.New(t)
	peer := netnstest.New(t)
	netnstest.Veth(t, gw, "lan0", peer, "eth0")
	netnstest.Addr(t, gw, "lan0", netip.MustParsePrefix("10.9.0.1/24"))
	netnstest.Addr(t, gw, "lan0", netip.MustParsePrefix("fd00:9::1/64"))
	netnstest.Run(t, gw, "ip", "neigh", "add", "10.9.0.2", "lladdr", "02:00:00:00:09:02", "dev", "lan0")
	netnstest.Run(t, gw, "ip", "neigh", "add", "fd00:9::2", "lladdr", "02:00:00:00:09:02", "dev", "lan0")

	tab, err := neighbor.New(&neighbor.Config{NetNS: gw, Interfaces: []string{"lan0"}, MinRefresh: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer tab.Close()
	for _, a := range []string{"10.9.0.2", "fd00:9::2", "::ffff:10.9.0.2"} {
		mac, ok := tab.Lookup(netip.MustParseAddr(a))
		if !ok || mac.String() != "02:00:00:00:09:02" {
			t.Errorf("Lookup(%s) = %v, %v; want 02:00:00:00:09:02", a, mac, ok)
		}
	}
	if mac, ok := tab.Lookup(netip.MustParseAddr("10.9.0.3")); ok {
		t.Errorf("Lookup(10.9.0.3) = %v before the neighbour exists", mac)
	}

	// A neighbour that appears later is found once MinRefresh has passed.
	netnstest.Run(t, gw, "ip", "neigh", "add", "10.9.0.3", "lladdr", "02:00:00:00:09:03", "dev", "lan0")
	time.Sleep(20 * time.Millisecond)
	if mac, ok := tab.Lookup(netip.MustParseAddr("10.9.0.3")); !ok || mac.String() != "02:00:00:00:09:03" {
		t.Errorf("Lookup(10.9.0.3) after it appeared = %v, %v", mac, ok)
	}
}
