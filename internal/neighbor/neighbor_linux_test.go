//go:build linux

package neighbor_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/neighbor"
	"github.com/curfew/curfew/internal/netnstest"
)

// newPair returns a gateway namespace and a client namespace joined by a
// veth pair, with IPv4 and IPv6 addresses on both ends.
func newPair(t *testing.T) (gw, client int) {
	gw, client = netnstest.New(t), netnstest.New(t)
	netnstest.Veth(t, gw, "lan0", client, "eth0")
	netnstest.Addr(t, gw, "lan0", netip.MustParsePrefix("10.9.0.1/24"))
	netnstest.Addr(t, gw, "lan0", netip.MustParsePrefix("fd00:9::1/64"))
	netnstest.Addr(t, client, "eth0", netip.MustParsePrefix("10.9.0.2/24"))
	netnstest.Addr(t, client, "eth0", netip.MustParsePrefix("fd00:9::2/64"))
	return gw, client
}

func TestLookupKnown(t *testing.T) {
	gw, _ := newPair(t)
	netnstest.Run(t, gw, "ip", "neigh", "replace", "10.9.0.7", "lladdr", "02:00:00:00:09:07", "dev", "lan0")
	netnstest.Run(t, gw, "ip", "neigh", "replace", "fd00:9::7", "lladdr", "02:00:00:00:09:07", "dev", "lan0")
	tab, err := neighbor.New(&neighbor.Config{NetNS: gw, Interfaces: []string{"lan0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer tab.Close()
	for _, a := range []string{"10.9.0.7", "fd00:9::7", "::ffff:10.9.0.7"} {
		mac, ok := tab.Lookup(netip.MustParseAddr(a))
		if !ok || mac.String() != "02:00:00:00:09:07" {
			t.Errorf("Lookup(%s) = %v, %v; want 02:00:00:00:09:07", a, mac, ok)
		}
	}
	// Entries added after a lookup are found at once: a miss re-reads.
	netnstest.Run(t, gw, "ip", "neigh", "replace", "10.9.0.8", "lladdr", "02:00:00:00:09:08", "dev", "lan0")
	if mac, ok := tab.Lookup(netip.MustParseAddr("10.9.0.8")); !ok || mac.String() != "02:00:00:00:09:08" {
		t.Errorf("Lookup(10.9.0.8) right after it appeared = %v, %v", mac, ok)
	}
	for _, a := range []string{"10.9.0.1", "fd00:9::1", "127.0.0.1"} {
		if mac, ok := tab.Lookup(netip.MustParseAddr(a)); ok {
			t.Errorf("Lookup(%s), the gateway's own address = %v, want not found", a, mac)
		}
	}
}

// A client whose address the gateway has never resolved is found by
// probing it: its first DNS query from a new address must already be
// recognised.
func TestLookupProbesUnknown(t *testing.T) {
	gw, client := newPair(t)
	tab, err := neighbor.New(&neighbor.Config{NetNS: gw, Interfaces: []string{"lan0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer tab.Close()
	const want = "02:00:00:00:09:02"
	netnstest.Run(t, client, "ip", "link", "set", "eth0", "address", want)
	for _, a := range []string{"10.9.0.2", "fd00:9::2"} {
		start := time.Now()
		mac, ok := tab.Lookup(netip.MustParseAddr(a))
		if !ok || mac.String() != want {
			t.Errorf("Lookup(%s) of an unresolved neighbour = %v, %v; want %s", a, mac, ok, want)
		}
		t.Logf("Lookup(%s) resolved by probing in %s", a, time.Since(start))
	}

	// Nobody answers for 10.9.0.99: the lookup fails within the probe
	// wait, and the failure is remembered.
	start := time.Now()
	if mac, ok := tab.Lookup(netip.MustParseAddr("10.9.0.99")); ok {
		t.Errorf("Lookup(10.9.0.99) = %v, want not found", mac)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Lookup(10.9.0.99) took %s, want about the probe wait", d)
	}
	start = time.Now()
	tab.Lookup(netip.MustParseAddr("10.9.0.99"))
	if d := time.Since(start); d > 10*time.Millisecond {
		t.Errorf("second Lookup(10.9.0.99) took %s; the failure should be remembered", d)
	}
}

// An address the neighbour table does not know is found in the DHCP
// leases, and a lease file that changes is read again.
func TestLookupLeases(t *testing.T) {
	gw, _ := newPair(t)
	leases := filepath.Join(t.TempDir(), "dnsmasq.leases")
	if err := os.WriteFile(leases, []byte("1795000000 02:00:00:00:09:32 10.9.0.50 phone *\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tab, err := neighbor.New(&neighbor.Config{NetNS: gw, Interfaces: []string{"lan0"}, Leases: []string{leases}, ProbeWait: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer tab.Close()
	if mac, ok := tab.Lookup(netip.MustParseAddr("10.9.0.50")); !ok || mac.String() != "02:00:00:00:09:32" {
		t.Errorf("Lookup(10.9.0.50) from the leases = %v, %v", mac, ok)
	}
	later := time.Now().Add(time.Second)
	if err := os.WriteFile(leases, []byte("1795000000 02:00:00:00:09:33 10.9.0.51 tablet *\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(leases, later, later)
	if mac, ok := tab.Lookup(netip.MustParseAddr("10.9.0.51")); !ok || mac.String() != "02:00:00:00:09:33" {
		t.Errorf("Lookup(10.9.0.51) after the leases changed = %v, %v", mac, ok)
	}
}
