//go:build linux

package netfilter_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/enforce/enforcetest"
	"github.com/curfew/curfew/internal/golden"
	"github.com/curfew/curfew/internal/netfilter"
	"github.com/curfew/curfew/internal/netnstest"
)

func newBackend(t testing.TB, ns int, lan ...string) *netfilter.Backend {
	t.Helper()
	return newBackendConfig(t, &netfilter.Config{NetNS: ns, LANInterfaces: lan})
}

// newBackendConfig returns a backend of c, with a logger to the test's
// output if c has none, closed at cleanup.
func newBackendConfig(t testing.TB, c *netfilter.Config) *netfilter.Backend {
	t.Helper()
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	b, err := netfilter.New(c)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

func mustApply(t testing.TB, b *netfilter.Backend, s *curfew.Snapshot) {
	t.Helper()
	if err := b.Apply(t.Context(), s); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

// kernel reads the backend's sets straight from the kernel.
type kernel struct {
	conn  *nftables.Conn
	table *nftables.Table
}

func newKernel(t testing.TB, ns int) *kernel {
	c, err := nftables.New(nftables.WithNetNSFd(ns))
	if err != nil {
		t.Fatal(err)
	}
	return &kernel{conn: c, table: &nftables.Table{Family: nftables.TableFamilyINet, Name: netfilter.DefaultTable}}
}

func (k *kernel) elements(name string) ([]nftables.SetElement, error) {
	return k.conn.GetSetElements(&nftables.Set{Table: k.table, Name: name})
}

func (k *kernel) lookupMAC(_ context.Context, mac net.HardwareAddr) (time.Time, bool, error) {
	reach, until, err := k.lookupReach(context.Background(), mac)
	return until, err == nil && reach == curfew.ReachCutoff, err
}

// lookupReach finds mac in reach_mac and tells the reach from the chain
// its element jumps to: ReachOpen if it is not there, an error if the
// chain is none of a reach's.
func (k *kernel) lookupReach(_ context.Context, mac net.HardwareAddr) (curfew.Reach, time.Time, error) {
	els, err := k.elements("reach_mac")
	if err != nil {
		return "", time.Time{}, err
	}
	for _, e := range els {
		if !bytes.Equal(e.Key, mac) {
			continue
		}
		until := time.Now().Add(e.Expires)
		var chain string
		if v := netfilter.ParseVerdict(e.Val); v.Kind == expr.VerdictJump {
			chain = v.Chain
		}
		switch chain {
		case "refuse":
			return curfew.ReachCutoff, until, nil
		case "allowlist":
			return curfew.ReachAllowlist, until, nil
		case "bypass":
			return curfew.ReachBlocklist, until, nil
		}
		return "", time.Time{}, fmt.Errorf("%s in reach_mac jumps to %q, no reach's chain", mac, chain)
	}
	return curfew.ReachOpen, time.Time{}, nil
}

// lookupAllowed reports whether a range of the allowed-nets set of a's
// family, keyed by mac, holds a.
func (k *kernel) lookupAllowed(_ context.Context, mac net.HardwareAddr, a netip.Addr) (bool, error) {
	name := "allow_net_v4"
	if a.Is6() {
		name = "allow_net_v6"
	}
	els, err := k.elements(name)
	if err != nil {
		return false, err
	}
	key := append(append(append([]byte{}, mac...), 0, 0), a.AsSlice()...)
	for _, e := range els {
		if len(e.Key) == len(key) && bytes.Compare(e.Key, key) <= 0 && bytes.Compare(key, e.KeyEnd) <= 0 && bytes.Equal(e.Key[:6], mac) {
			return true, nil
		}
	}
	return false, nil
}

// lookupAddr finds the interval holding a: the start element with the
// greatest key not above a, if the next element after it is its end and
// lies above a.
func (k *kernel) lookupAddr(_ context.Context, a netip.Addr) (time.Time, bool, error) {
	name := "cutoff_v4"
	if a.Is6() {
		name = "cutoff_v6"
	}
	els, err := k.elements(name)
	if err != nil {
		return time.Time{}, false, err
	}
	slices.SortFunc(els, func(x, y nftables.SetElement) int {
		if c := bytes.Compare(x.Key, y.Key); c != 0 {
			return c
		}
		if x.IntervalEnd == y.IntervalEnd {
			return 0
		}
		if x.IntervalEnd {
			return -1
		}
		return 1
	})
	key := a.AsSlice()
	for i, e := range els {
		if e.IntervalEnd || bytes.Compare(e.Key, key) > 0 {
			continue
		}
		if i+1 == len(els) || bytes.Compare(els[i+1].Key, key) > 0 {
			return time.Now().Add(e.Expires), true, nil
		}
	}
	return time.Time{}, false, nil
}

// TestConformance runs the suite on the table without the owner flags (as
// on kernels before 6.9): the suite tampers with the table from another
// socket, which the kernel refuses for an owned one (TestOwnedTable).
func TestConformance(t *testing.T) {
	enforcetest.Run(t, func(t *testing.T) *enforcetest.Harness {
		ns := netnstest.New(t)
		b := newBackendConfig(t, &netfilter.Config{NetNS: ns, Unowned: true})
		k := newKernel(t, ns)
		return &enforcetest.Harness{
			Backend:       b,
			LookupMAC:     k.lookupMAC,
			LookupAddr:    k.lookupAddr,
			LookupReach:   k.lookupReach,
			LookupAllowed: k.lookupAllowed,
			Tamper: func(context.Context) error {
				k.conn.DelTable(k.table)
				return k.conn.Flush()
			},
			// Timeouts count from the suite's start, not from each Apply.
			Slack: 5 * time.Second,
		}
	})
}

var (
	macA = net.HardwareAddr{2, 0, 0, 0, 0, 0xa}
	macB = net.HardwareAddr{2, 0, 0, 0, 0, 0xb}
)

func cut(until time.Time, ids ...curfew.RestrictionID) curfew.Enforcement {
	return curfew.Enforcement{Reach: curfew.ReachCutoff, Until: until, RestrictedUntil: until, Restrictions: ids}
}

// goldenSnapshot has two devices and overlapping v4 and v6 prefixes, with
// round timeouts so that nft prints them the same every time.
func goldenSnapshot() *curfew.Snapshot {
	now := time.Now()
	return &curfew.Snapshot{
		At: now,
		Devices: []*curfew.DeviceRule{
			{MAC: macA, Enforcement: cut(now.Add(time.Hour), 1)},
			{MAC: macB, Addrs: []netip.Addr{netip.MustParseAddr("192.168.50.20")}, Enforcement: cut(now.Add(366*24*time.Hour), 2)},
		},
		Prefixes: []curfew.PrefixRule{
			{Prefix: netip.MustParsePrefix("10.50.0.0/16"), Enforcement: cut(now.Add(2*time.Hour), 3)},
			{Prefix: netip.MustParsePrefix("10.50.3.4/32"), Enforcement: cut(now.Add(24*time.Hour), 4)},
			{Prefix: netip.MustParsePrefix("192.0.2.0/24"), Enforcement: cut(now.Add(time.Hour), 5)},
			{Prefix: netip.MustParsePrefix("2001:db8:99::/64"), Enforcement: cut(now.Add(time.Hour), 6)},
			{Prefix: netip.MustParsePrefix("2001:db8:aa::7/128"), Enforcement: cut(now.Add(30*time.Minute), 7)},
			// Other modes get only the anti-bypass rules here.
			{Prefix: netip.MustParsePrefix("198.51.100.0/24"), Enforcement: curfew.Enforcement{Reach: curfew.ReachBlocklist, Until: now.Add(time.Hour)}},
		},
	}
}

var expires = regexp.MustCompile(` expires [0-9dhms]+`)

// ruleset returns `nft list ruleset` in ns without the remaining times,
// which change from one run to the next.
func ruleset(t *testing.T, ns int) string {
	return expires.ReplaceAllString(netnstest.Ruleset(t, ns), "")
}

var (
	macC = net.HardwareAddr{2, 0, 0, 0, 0, 0xc}
	macD = net.HardwareAddr{2, 0, 0, 0, 0, 0xd}
)

// everything turns every feature on: LAN interfaces, DNS and notice
// redirects for both families, and an operator's DoH list that replaces
// the shipped one (so the golden file does not change with it).
func everything(t testing.TB, ns int) *netfilter.Config {
	path := filepath.Join(t.TempDir(), "doh.txt")
	if err := os.WriteFile(path, []byte("# operator's list\n9.9.9.9\n2620:fe::fe\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return &netfilter.Config{
		NetNS:         ns,
		LANInterfaces: []string{"lan0", "br-lan"},
		DNS4:          netip.MustParseAddrPort("192.168.50.1:53"),
		DNS6:          netip.MustParseAddrPort("[fd00:50::1]:53"),
		Notice4:       netip.MustParseAddrPort("192.168.50.1:8480"),
		Notice6:       netip.MustParseAddrPort("[fd00:50::1]:8480"),
		DoHFile:       path,
		DoHReplace:    true,
	}
}

// everySnapshot adds to goldenSnapshot a device in allowlist mode with
// literal prefixes, one in blocklist mode and a prefix in allowlist mode.
func everySnapshot() *curfew.Snapshot {
	s := goldenSnapshot()
	until := s.At.Add(3 * time.Hour)
	s.Devices = append(s.Devices,
		&curfew.DeviceRule{MAC: macC, Enforcement: curfew.Enforcement{Reach: curfew.ReachAllowlist, Until: until, Restrictions: []curfew.RestrictionID{8},
			AllowNames: []string{"news.example"}, AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("198.51.100.9/32"), netip.MustParsePrefix("2001:db8:5::/48")}}},
		&curfew.DeviceRule{MAC: macD, Enforcement: curfew.Enforcement{Reach: curfew.ReachBlocklist, Until: until, Restrictions: []curfew.RestrictionID{9},
			BlockNames: []string{"games.example"}}},
	)
	s.Prefixes = append(s.Prefixes, curfew.PrefixRule{Prefix: netip.MustParsePrefix("2001:db8:77::/64"),
		Enforcement: curfew.Enforcement{Reach: curfew.ReachAllowlist, Until: until, AllowNames: []string{"news.example"}}})
	return s
}

func TestRulesetGolden(t *testing.T) {
	for _, tt := range []struct {
		name   string
		config func(t testing.TB, ns int) *netfilter.Config
		snap   func() *curfew.Snapshot
	}{
		{"two_devices", func(_ testing.TB, ns int) *netfilter.Config { return &netfilter.Config{NetNS: ns} }, goldenSnapshot},
		{"lan_interfaces", func(_ testing.TB, ns int) *netfilter.Config {
			return &netfilter.Config{NetNS: ns, LANInterfaces: []string{"lan0", "br-lan"}}
		}, goldenSnapshot},
		{"everything", everything, everySnapshot},
		{"everything_no_lan", func(t testing.TB, ns int) *netfilter.Config {
			c := everything(t, ns)
			c.LANInterfaces = nil
			return c
		}, everySnapshot},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ns := netnstest.New(t)
			b := newBackendConfig(t, tt.config(t, ns))
			s := tt.snap()
			// Destinations the resolver allowed, when macC is in
			// allowlist mode; the second time changes nothing either.
			allow := func() {
				if !strings.HasPrefix(tt.name, "everything") {
					return
				}
				for _, a := range []string{"203.0.113.7", "2001:db8:fe::7"} {
					if err := b.AllowDestination(macC, netip.MustParseAddr(a), time.Hour); err != nil {
						t.Fatalf("AllowDestination: %v", err)
					}
				}
			}
			mustApply(t, b, s)
			allow()
			first := ruleset(t, ns)
			mustApply(t, b, s) // twice: nothing may change
			allow()
			if second := ruleset(t, ns); second != first {
				t.Errorf("second Apply changed the ruleset:\n%s\nafter the first:\n%s", second, first)
			}
			if n := verifyAll(t, b); n != 0 {
				t.Errorf("Verify after Apply repaired %d, want 0", n)
			}
			golden.Check(t, "testdata/"+tt.name+".golden", first)
		})
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestManyDevicesEveryMode applies 8,000 devices, a third in each reach,
// with the notice server on: enough elements of the verdict maps for many
// netlink messages each. Every device must end up jumping to its reach's
// chain, and Verify must find nothing to repair.
func TestManyDevicesEveryMode(t *testing.T) {
	ns := netnstest.New(t)
	b := newBackendConfig(t, everything(t, ns))
	at := time.Now()
	s := &curfew.Snapshot{At: at}
	reaches := []curfew.Reach{curfew.ReachCutoff, curfew.ReachAllowlist, curfew.ReachBlocklist}
	const n = 8000
	for i := range n {
		mac := net.HardwareAddr{0x02, 0xee, 0, 0, byte(i >> 8), byte(i)}
		s.Devices = append(s.Devices, &curfew.DeviceRule{MAC: mac,
			Enforcement: curfew.Enforcement{Reach: reaches[i%3], Until: at.Add(time.Hour), Restrictions: []curfew.RestrictionID{1}}})
	}
	mustApply(t, b, s)
	k := newKernel(t, ns)
	els, err := k.elements("reach_mac")
	if err != nil {
		t.Fatal(err)
	}
	chains := map[string]int{}
	for _, e := range els {
		chains[netfilter.ParseVerdict(e.Val).Chain]++
	}
	if want := map[string]int{"refuse": 2667, "allowlist": 2667, "bypass": 2666}; fmt.Sprint(chains) != fmt.Sprint(want) {
		t.Errorf("reach_mac jumps to %v, want %v", chains, want)
	}
	if els, err := k.elements("notice_mac"); err != nil || len(els) != 2667+2667 {
		t.Errorf("notice_mac holds %d elements (%v), want %d: the cut-off and allowlist-mode devices", len(els), err, 2667+2667)
	}
	if n := verifyAll(t, b); n != 0 {
		t.Errorf("Verify after Apply repaired %d, want 0", n)
	}
}
