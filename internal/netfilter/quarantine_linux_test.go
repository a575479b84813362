//go:build linux

package netfilter_test

import (
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/netfilter"
	"github.com/curfew/curfew/internal/netnstest"
)

func newQuarantine(t *testing.T, ns int) *netfilter.Quarantine {
	t.Helper()
	q, err := netfilter.NewQuarantine(&netfilter.QuarantineConfig{
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
		NetNS:  ns, LANInterfaces: []string{"lan0"},
		DNS4: netip.MustParseAddrPort("10.9.0.1:53"), DNS6: netip.MustParseAddrPort("[fd00:9::1]:53"),
		Notice4: netip.MustParseAddrPort("10.9.0.1:8480"), Notice6: netip.MustParseAddrPort("[fd00:9::1]:8480"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := q.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return q
}

func registry(macs ...string) *curfew.Registry {
	var l []net.HardwareAddr
	for _, m := range macs {
		hw, _ := net.ParseMAC(m)
		l = append(l, hw)
	}
	return curfew.NewRegistry(l)
}

// registeredSet returns the elements of registered_mac as nft lists them.
func registeredSet(t *testing.T, ns int) string {
	t.Helper()
	out := netnstest.Run(t, ns, "nft", "list", "set", "inet", netfilter.DefaultQuarantineTable, "registered_mac")
	_, els, ok := strings.Cut(out, "elements = {")
	if !ok {
		return ""
	}
	els, _, _ = strings.Cut(els, "}")
	return strings.Join(strings.Fields(strings.ReplaceAll(els, ",", " ")), " ")
}

// TestQuarantineSet: the set follows the registry, change by change;
// applying the same registry again sends nothing; a deleted table is
// rebuilt by Verify with its elements; Close removes the table.
func TestQuarantineSet(t *testing.T) {
	ns := netnstest.New(t)
	q := newQuarantine(t, ns)
	r1 := registry("02:00:00:00:00:01", "02:00:00:00:00:02")
	if err := q.Apply(t.Context(), &curfew.Snapshot{Quarantine: true, Registered: r1}); err != nil {
		t.Fatal(err)
	}
	if got := registeredSet(t, ns); got != "02:00:00:00:00:01 02:00:00:00:00:02" {
		t.Errorf("registered_mac = %q", got)
	}
	ruleset := netnstest.Ruleset(t, ns)
	for _, want := range []string{
		`iifname "lan0" ether saddr != @registered_mac jump refuse`,
		`iifname "lan0" ether saddr != @registered_mac jump gateway`,
		`iifname "lan0" meta nfproto ipv4 ether saddr != @registered_mac tcp dport 80 dnat ip to 10.9.0.1:8480`,
		`iifname "lan0" meta nfproto ipv6 ether saddr != @registered_mac tcp dport 80 dnat ip6 to [fd00:9::1]:8480`,
		`ip daddr 10.9.0.1 udp dport 53 return`,
		`type filter hook forward priority -11; policy accept;`,
	} {
		if !strings.Contains(ruleset, want) {
			t.Errorf("ruleset lacks %q:\n%s", want, ruleset)
		}
	}
	if err := q.Apply(t.Context(), &curfew.Snapshot{Quarantine: true, Registered: registry("02:00:00:00:00:02", "02:00:00:00:00:03")}); err != nil {
		t.Fatal(err)
	}
	if got := registeredSet(t, ns); got != "02:00:00:00:00:02 02:00:00:00:00:03" {
		t.Errorf("registered_mac after a change = %q", got)
	}
	if n, err := q.Verify(t.Context()); n != 0 || err != nil {
		t.Errorf("Verify of an intact table = %d, %v; want 0, nil", n, err)
	}
	netnstest.Run(t, ns, "nft", "delete", "table", "inet", netfilter.DefaultQuarantineTable)
	if n, err := q.Verify(t.Context()); n != 1 || err != nil {
		t.Errorf("Verify of a deleted table = %d, %v; want 1, nil", n, err)
	}
	if got := registeredSet(t, ns); got != "02:00:00:00:00:02 02:00:00:00:00:03" {
		t.Errorf("registered_mac after the repair = %q", got)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if out := netnstest.Ruleset(t, ns); strings.Contains(out, netfilter.DefaultQuarantineTable) {
		t.Errorf("table left after Close:\n%s", out)
	}
}
