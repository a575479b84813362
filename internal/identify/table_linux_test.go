//go:build linux

package identify_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/identify"
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

func newTable(t *testing.T, c *identify.Config) *identify.Table {
	t.Helper()
	tab, err := identify.New(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tab.Close)
	return tab
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestIdentifyFollowsNeighbourEvents(t *testing.T) {
	gw, _ := newPair(t)
	netnstest.Run(t, gw, "ip", "neigh", "replace", "10.9.0.7", "lladdr", "02:00:00:00:09:07", "dev", "lan0")
	tab := newTable(t, &identify.Config{NetNS: gw, Interfaces: []string{"lan0"}})

	// Present at start.
	for _, a := range []string{"10.9.0.7", "::ffff:10.9.0.7"} {
		if c := tab.Identify(netip.MustParseAddr(a)); c.Kind != identify.Known || c.MAC.String() != "02:00:00:00:09:07" {
			t.Errorf("Identify(%s) = %+v, want Known 02:00:00:00:09:07", a, c)
		}
	}
	// Added, changed and removed later: each event is followed, v4 and v6.
	for _, a := range []string{"10.9.0.8", "fd00:9::8"} {
		addr := netip.MustParseAddr(a)
		netnstest.Run(t, gw, "ip", "neigh", "replace", a, "lladdr", "02:00:00:00:09:08", "dev", "lan0")
		eventually(t, time.Second, "entry for "+a+" appears", func() bool { return tab.Identify(addr).MAC.String() == "02:00:00:00:09:08" })
		netnstest.Run(t, gw, "ip", "neigh", "replace", a, "lladdr", "02:00:00:00:09:09", "dev", "lan0")
		eventually(t, time.Second, "entry for "+a+" changes MAC", func() bool { return tab.Identify(addr).MAC.String() == "02:00:00:00:09:09" })
		netnstest.Run(t, gw, "ip", "neigh", "del", a, "dev", "lan0")
		eventually(t, time.Second, "entry for "+a+" goes", func() bool { return tab.Identify(addr).Kind == identify.Unknown })
	}
}

func TestIdentifyKinds(t *testing.T) {
	gw, _ := newPair(t)
	netnstest.Run(t, gw, "ip", "link", "add", "wan0", "type", "veth", "peer", "name", "wan1")
	netnstest.Run(t, gw, "ip", "link", "set", "wan0", "up")
	netnstest.Addr(t, gw, "wan0", netip.MustParsePrefix("203.0.113.1/24"))
	tab := newTable(t, &identify.Config{NetNS: gw, Interfaces: []string{"lan0"},
		Routed: []netip.Prefix{netip.MustParsePrefix("10.60.0.0/16"), netip.MustParsePrefix("2001:db8:60::/48")}})
	tests := []struct {
		addr string
		want identify.Kind
	}{
		{"10.9.0.1", identify.Local},
		{"fd00:9::1", identify.Local},
		{"203.0.113.1", identify.Local},
		{"127.0.0.1", identify.Local},
		{"::1", identify.Local},
		{"10.9.0.77", identify.Unknown},
		{"fd00:9::77", identify.Unknown},
		{"fe80::1234", identify.Unknown}, // link-local is on every LAN link
		{"10.60.3.4", identify.Routed},
		{"2001:db8:60:1::4", identify.Routed},
		{"203.0.113.9", identify.Foreign}, // the WAN subnet is not served
		{"198.51.100.1", identify.Foreign},
		{"2001:db8:99::1", identify.Foreign},
	}
	for _, tt := range tests {
		if c := tab.Identify(netip.MustParseAddr(tt.addr)); c.Kind != tt.want {
			t.Errorf("Identify(%s) = %s, want %s", tt.addr, c.Kind, tt.want)
		}
	}
	if !tab.OnLAN(netip.MustParseAddr("10.9.0.1")) || !tab.OnLAN(netip.MustParseAddr("10.9.0.200")) || tab.OnLAN(netip.MustParseAddr("203.0.113.1")) || tab.OnLAN(netip.MustParseAddr("127.0.0.1")) {
		t.Errorf("OnLAN: want the LAN's own address and subnet only")
	}
	// A new address on a LAN interface is on the LAN at once.
	netnstest.Addr(t, gw, "lan0", netip.MustParsePrefix("10.19.0.1/24"))
	eventually(t, time.Second, "new LAN subnet", func() bool { return tab.Identify(netip.MustParseAddr("10.19.0.5")).Kind == identify.Unknown })
}

// Wait resolves a real client that the gateway has never seen, by probing
// it; an address nobody answers for comes back Unknown after the probe
// wait, and at once the second time.
func TestWaitProbes(t *testing.T) {
	gw, client := newPair(t)
	const want = "02:00:00:00:09:02"
	netnstest.Run(t, client, "ip", "link", "set", "eth0", "address", want)
	tab := newTable(t, &identify.Config{NetNS: gw, Interfaces: []string{"lan0"}, ProbeWait: 500 * time.Millisecond})
	// IPv6 comes up on a link a moment after the link does (on a busy
	// machine, a long moment): until then there is no route to probe by.
	eventually(t, 5*time.Second, "IPv6 route to the client", func() bool {
		out, err := netnstest.Output(gw, "ip", "-6", "route", "get", "fd00:9::2")
		return err == nil && strings.Contains(out, "dev lan0")
	})
	for _, a := range []string{"10.9.0.2", "fd00:9::2"} {
		addr := netip.MustParseAddr(a)
		if c := tab.Identify(addr); c.Kind != identify.Unknown {
			t.Fatalf("Identify(%s) before any traffic = %+v, want Unknown", a, c)
		}
		start := time.Now()
		if c := tab.Wait(t.Context(), addr); c.Kind != identify.Known || c.MAC.String() != want {
			t.Errorf("Wait(%s) = %+v; want Known %s", a, c, want)
		}
		t.Logf("Wait(%s) placed the client in %s", a, time.Since(start))
	}

	nobody := netip.MustParseAddr("10.9.0.99")
	start := time.Now()
	if c := tab.Wait(t.Context(), nobody); c.Kind != identify.Unknown {
		t.Errorf("Wait(%s) = %+v, want Unknown", nobody, c)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Wait(%s) took %s, want about the probe wait", nobody, d)
	}
	start = time.Now()
	tab.Wait(t.Context(), nobody)
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("second Wait(%s) took %s; the failure should be remembered", nobody, d)
	}
}

// Many waits for made-up addresses at once: only MaxWaits of them wait,
// the others return at once, and Identify is never held up meanwhile.
func TestWaitIsBounded(t *testing.T) {
	gw, _ := newPair(t)
	netnstest.Run(t, gw, "ip", "neigh", "replace", "10.9.0.7", "lladdr", "02:00:00:00:09:07", "dev", "lan0")
	tab := newTable(t, &identify.Config{NetNS: gw, Interfaces: []string{"lan0"}, ProbeWait: 300 * time.Millisecond, MaxWaits: 8})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var quick int
	for i := range 200 {
		wg.Go(func() {
			a := netip.AddrFrom4([4]byte{10, 9, 0, byte(20 + i/2)})
			if i%2 == 1 {
				b := netip.MustParseAddr("fd00:9::").As16()
				b[14], b[15] = 1, byte(i)
				a = netip.AddrFrom16(b)
			}
			start := time.Now()
			if c := tab.Wait(t.Context(), a); c.Kind != identify.Unknown {
				t.Errorf("Wait(%s) = %+v, want Unknown", a, c)
			}
			if time.Since(start) < 100*time.Millisecond {
				mu.Lock()
				quick++
				mu.Unlock()
			}
		})
	}
	// Meanwhile Identify answers from memory.
	known := netip.MustParseAddr("10.9.0.7")
	for range 1000 {
		if c := tab.Identify(known); c.Kind != identify.Known {
			t.Fatalf("Identify(%s) during the waits = %+v", known, c)
		}
	}
	wg.Wait()
	if quick < 150 {
		t.Errorf("%d of 200 waits returned at once, want at least 150 with MaxWaits 8", quick)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	start := time.Now()
	tab.Wait(ctx, netip.MustParseAddr("10.9.0.250"))
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("Wait with a done context took %s", d)
	}
}

// An address the neighbour table does not know is found in the DHCP
// leases, and a lease file that changes is read again.
func TestIdentifyLeases(t *testing.T) {
	gw, _ := newPair(t)
	leases := filepath.Join(t.TempDir(), "dnsmasq.leases")
	if err := os.WriteFile(leases, []byte("1795000000 02:00:00:00:09:32 10.9.0.50 phone *\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tab := newTable(t, &identify.Config{NetNS: gw, Interfaces: []string{"lan0"}, Leases: []string{leases}})
	if c := tab.Identify(netip.MustParseAddr("10.9.0.50")); c.MAC.String() != "02:00:00:00:09:32" {
		t.Errorf("Identify(10.9.0.50) from the leases = %+v", c)
	}
	later := time.Now().Add(time.Second)
	if err := os.WriteFile(leases, []byte("1795000000 02:00:00:00:09:33 10.9.0.51 tablet *\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(leases, later, later); err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Second, "changed lease file is read", func() bool {
		return tab.Identify(netip.MustParseAddr("10.9.0.51")).MAC.String() == "02:00:00:00:09:33"
	})
	if c := tab.Identify(netip.MustParseAddr("10.9.0.50")); c.Kind != identify.Unknown {
		t.Errorf("Identify(10.9.0.50) after its lease went = %+v, want Unknown", c)
	}
}

// A lease file that is not there yet (the DHCP server has given no lease)
// is warned about once, not at every check, and read once it appears; its
// hostnames and addresses are what Learned reports.
func TestLeaseFileAppears(t *testing.T) {
	gw, _ := newPair(t)
	leases := filepath.Join(t.TempDir(), "dnsmasq.leases")
	var logs syncBuffer
	tab := newTable(t, &identify.Config{NetNS: gw, Interfaces: []string{"lan0"}, Leases: []string{leases}, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	eventually(t, 3*time.Second, "a warning about the missing file", func() bool {
		return strings.Contains(logs.String(), "reading leases")
	})
	// Not warning again is the absence of an event: let the table check
	// the file twice more (it checks every second), then count.
	warned := time.Now()
	eventually(t, 5*time.Second, "two more checks", func() bool {
		time.Sleep(50 * time.Millisecond)
		return time.Since(warned) > 2500*time.Millisecond
	})
	if n := strings.Count(logs.String(), "reading leases"); n != 1 {
		t.Errorf("a missing lease file was warned about %d times, want once:\n%s", n, logs.String())
	}
	if err := os.WriteFile(leases, []byte("1795000000 02:00:00:00:09:34 10.9.0.52 laptop *\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Second, "the new lease file is read", func() bool {
		l := tab.Learned()["02:00:00:00:09:34"]
		return l.Hostname == "laptop" && len(l.Addrs) == 1 && l.Addrs[0] == netip.MustParseAddr("10.9.0.52")
	})
}

// A LAN interface that does not exist is refused at start, and one that
// disappears later is reported.
func TestInterfaces(t *testing.T) {
	gw, _ := newPair(t)
	if _, err := identify.New(&identify.Config{NetNS: gw, Interfaces: []string{"lan0", "br-nope"}}); err == nil || err.Error() != `lan interface "br-nope" does not exist` {
		t.Errorf("New with a missing interface: err = %v", err)
	}
	var logs syncBuffer
	tab := newTable(t, &identify.Config{NetNS: gw, Interfaces: []string{"lan0"}, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	netnstest.Run(t, gw, "ip", "link", "del", "lan0")
	eventually(t, 2*time.Second, "lan0 reported missing", func() bool { return len(tab.Missing()) == 1 })
	eventually(t, time.Second, "lan0 logged", func() bool { return strings.Contains(logs.String(), "lan interface disappeared") })
	if c := tab.Identify(netip.MustParseAddr("10.9.0.5")); c.Kind != identify.Foreign {
		t.Errorf("Identify(10.9.0.5) with lan0 gone = %+v, want Foreign", c)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
