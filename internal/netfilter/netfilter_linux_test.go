//go:build linux

package netfilter_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/google/nftables"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/enforce/enforcetest"
	"github.com/curfew/curfew/internal/golden"
	"github.com/curfew/curfew/internal/netfilter"
	"github.com/curfew/curfew/internal/netnstest"
)

func newBackend(t testing.TB, ns int, lan ...string) *netfilter.Backend {
	t.Helper()
	b, err := netfilter.New(&netfilter.Config{
		Logger:        slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
		NetNS:         ns,
		LANInterfaces: lan,
	})
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
	els, err := k.elements("cutoff_mac")
	if err != nil {
		return time.Time{}, false, err
	}
	for _, e := range els {
		if bytes.Equal(e.Key, mac) {
			return time.Now().Add(e.Expires), true, nil
		}
	}
	return time.Time{}, false, nil
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

func TestConformance(t *testing.T) {
	enforcetest.Run(t, func(t *testing.T) *enforcetest.Harness {
		ns := netnstest.New(t)
		b := newBackend(t, ns)
		k := newKernel(t, ns)
		return &enforcetest.Harness{
			Backend:    b,
			LookupMAC:  k.lookupMAC,
			LookupAddr: k.lookupAddr,
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
	return curfew.Enforcement{Mode: curfew.ModeCutoff, Until: until, RestrictedUntil: until, Restrictions: ids}
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
			// Other modes are not enforced here yet.
			{Prefix: netip.MustParsePrefix("198.51.100.0/24"), Enforcement: curfew.Enforcement{Mode: curfew.ModeBlocklist, Until: now.Add(time.Hour)}},
		},
	}
}

var expires = regexp.MustCompile(` expires [0-9dhms]+`)

// ruleset returns `nft list ruleset` in ns without the remaining times,
// which change from one run to the next.
func ruleset(t *testing.T, ns int) string {
	return expires.ReplaceAllString(netnstest.Ruleset(t, ns), "")
}

func TestRulesetGolden(t *testing.T) {
	for _, tt := range []struct {
		name string
		lan  []string
	}{
		{"two_devices", nil},
		{"lan_interfaces", []string{"lan0", "br-lan"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ns := netnstest.New(t)
			b := newBackend(t, ns, tt.lan...)
			s := goldenSnapshot()
			mustApply(t, b, s)
			first := ruleset(t, ns)
			mustApply(t, b, s) // twice: nothing may change
			if second := ruleset(t, ns); second != first {
				t.Errorf("second Apply changed the ruleset:\n%s\nafter the first:\n%s", second, first)
			}
			golden.Check(t, "testdata/"+tt.name+".golden", first)
		})
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
