//go:build linux

package netfilter_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/nftables"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/netfilter"
	"github.com/curfew/curfew/internal/netnstest"
)

// verifyAll calls Verify enough times for one full element comparison and
// returns the repairs summed.
func verifyAll(t *testing.T, b *netfilter.Backend) int {
	t.Helper()
	var n int
	for range 10 {
		r, err := b.Verify(t.Context())
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		n += r
	}
	return n
}

var timeouts = regexp.MustCompile(` timeout [0-9dhms]+`)

// shape is the ruleset without remaining times or timeouts, which a repair
// restarts from the time left.
func shape(t *testing.T, ns int) string {
	return timeouts.ReplaceAllString(ruleset(t, ns), "")
}

func TestVerifyRepairs(t *testing.T) {
	tests := []struct {
		name   string
		tamper []string // nft arguments
	}{
		{"table deleted", []string{"delete table inet curfew"}},
		{"chain flushed", []string{"flush chain inet curfew forward"}},
		{"rule inserted", []string{"insert rule inet curfew forward accept"}},
		{"rule deleted", []string{"flush chain inet curfew refuse", "add rule inet curfew refuse reject with icmpx admin-prohibited"}},
		{"chain priority changed", []string{"delete table inet curfew", "add table inet curfew",
			"add set inet curfew reach_mac { type ether_addr; flags timeout; }",
			"add set inet curfew cutoff_v4 { type ipv4_addr; flags interval,timeout; }",
			"add set inet curfew cutoff_v6 { type ipv6_addr; flags interval,timeout; }",
			"add chain inet curfew refuse",
			"add chain inet curfew forward { type filter hook forward priority 10; policy accept; }"}},
		{"set flushed", []string{"flush map inet curfew reach_mac"}},
		{"interval deleted", []string{"delete element inet curfew cutoff_v4 { 192.0.2.0/24 }"}},
		{"element added", []string{"add element inet curfew cutoff_v6 { 2001:db8:1::1 timeout 1h }"}},
		{"timeout shortened", []string{"delete element inet curfew reach_mac { 02:00:00:00:00:0b }",
			"add element inet curfew reach_mac { 02:00:00:00:00:0b timeout 10s : jump refuse }"}},
		{"nat chain flushed", []string{"flush chain inet curfew intercept"}},
		{"nat chain deleted", []string{"flush chain inet curfew intercept", "delete chain inet curfew intercept"}},
		{"allowlist rule deleted", []string{"flush chain inet curfew allowlist", "add rule inet curfew allowlist jump refuse"}},
		{"bypass rule replaced", []string{"flush chain inet curfew bypass", "add rule inet curfew bypass tcp dport 853 jump refuse"}},
		{"notice chain flushed", []string{"flush chain inet curfew allowlist_notice"}},
		{"input chain flushed", []string{"flush chain inet curfew input"}},
		{"input rule inserted", []string{"insert rule inet curfew input accept"}},
		{"gateway rule replaced", []string{"flush chain inet curfew gateway", "add rule inet curfew gateway tcp dport 22 return"}},
		{"input chain deleted", []string{"flush chain inet curfew input", "delete chain inet curfew input"}},
		{"dynamic set deleted", []string{"flush chain inet curfew allowlist", "flush chain inet curfew allowlist_notice",
			"delete set inet curfew allow_v4"}},
		{"DoH endpoint deleted", []string{"delete element inet curfew doh_v4 { 9.9.9.9 }"}},
		{"DoH endpoint added", []string{"add element inet curfew doh_v6 { 2001:db8::53 }"}},
		{"allowed prefix deleted", []string{"delete element inet curfew allow_net_v4 { 02:00:00:00:00:0c . 198.51.100.0/24 }"}},
		{"allowlist device deleted", []string{"delete element inet curfew reach_mac { 02:00:00:00:00:0c }"}},
		{"device sent to another reach's chain", []string{"delete element inet curfew reach_mac { 02:00:00:00:00:0c }",
			"add element inet curfew reach_mac { 02:00:00:00:00:0c timeout 1h : jump bypass }"}},
		{"cut-off device's HTTP no longer redirected", []string{"delete element inet curfew notice_mac { 02:00:00:00:00:0b }"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := netnstest.New(t)
			c := everything(t, ns)
			c.Unowned = true // the tampering needs a table others may change
			b := newBackendConfig(t, c)
			mustApply(t, b, everySnapshot())
			// Destinations the resolver allowed are not drift, and a
			// rebuild keeps them.
			if err := b.AllowDestination(macC, netip.MustParseAddr("203.0.113.7"), time.Hour); err != nil {
				t.Fatalf("AllowDestination: %v", err)
			}
			if n := verifyAll(t, b); n != 0 {
				t.Fatalf("Verify after Apply repaired %d, want 0", n)
			}
			want := shape(t, ns)
			for _, cmd := range tt.tamper {
				netnstest.Run(t, ns, "nft", cmd)
			}
			if n := verifyAll(t, b); n == 0 {
				t.Errorf("Verify after %s repaired nothing", tt.name)
			}
			if got := shape(t, ns); got != want {
				t.Errorf("after Verify the ruleset is\n%s\nwant\n%s", got, want)
			}
			if n := verifyAll(t, b); n != 0 {
				t.Errorf("second round of Verify repaired %d, want 0", n)
			}
		})
	}
}

// TestVerifyLeavesExpired checks that an element the kernel expired on time
// is not added back.
func TestVerifyLeavesExpired(t *testing.T) {
	ns := netnstest.New(t)
	b := newBackendConfig(t, &netfilter.Config{NetNS: ns, Unowned: true}) // the test deletes the table
	now := time.Now()
	s := goldenSnapshot()
	s.At = now
	s.Devices[0].Until = now.Add(500 * time.Millisecond)
	mustApply(t, b, s)
	time.Sleep(time.Second)
	if rs := ruleset(t, ns); strings.Contains(rs, macA.String()) {
		t.Fatalf("element of %s did not expire:\n%s", macA, rs)
	}
	if n := verifyAll(t, b); n != 0 {
		t.Errorf("Verify repaired %d, want 0", n)
	}
	netnstest.Run(t, ns, "nft", "delete table inet curfew")
	if n := verifyAll(t, b); n == 0 {
		t.Errorf("Verify after deleting the table repaired nothing")
	}
	if rs := ruleset(t, ns); strings.Contains(rs, macA.String()) || !strings.Contains(rs, macB.String()) {
		t.Errorf("after rebuild, want %s gone and %s back:\n%s", macA, macB, rs)
	}
}

// TestLongTimeout checks that the kernel keeps a restriction of a year and
// a day without clamping it.
func TestLongTimeout(t *testing.T) {
	ns := netnstest.New(t)
	b := newBackend(t, ns)
	now := time.Now()
	mustApply(t, b, &curfew.Snapshot{At: now, Devices: []*curfew.DeviceRule{
		{MAC: macA, Enforcement: cut(now.Add(366*24*time.Hour), 1)},
	}})
	until, ok, err := newKernel(t, ns).lookupMAC(t.Context(), macA)
	if err != nil || !ok {
		t.Fatalf("lookupMAC = %v, %v", ok, err)
	}
	if d := until.Sub(now.Add(366 * 24 * time.Hour)); d > 5*time.Second || d < -5*time.Second {
		t.Errorf("element ends at %s, want %s", until, now.Add(366*24*time.Hour))
	}
}

func TestApplyAfterClose(t *testing.T) {
	ns := netnstest.New(t)
	b := newBackend(t, ns)
	mustApply(t, b, goldenSnapshot())
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if rs := netnstest.Ruleset(t, ns); strings.TrimSpace(rs) != "" {
		t.Errorf("ruleset after Close = %q, want empty", rs)
	}
	if err := b.Apply(t.Context(), goldenSnapshot()); err == nil {
		t.Error("Apply after Close succeeded")
	}
}

func TestNewValidates(t *testing.T) {
	for _, c := range []*netfilter.Config{
		{},
		{Logger: discard(), Table: strings.Repeat("x", 256)},
		{Logger: discard(), LANInterfaces: []string{"a-very-long-interface-name"}},
		{Logger: discard(), LANInterfaces: []string{"lan0", "lan0"}},
		{Logger: discard(), LANInterfaces: []string{""}},
		{Logger: discard(), NetNS: -2},
	} {
		if _, err := netfilter.New(c); err == nil {
			t.Errorf("New(%+v) succeeded, want an error", c)
		}
	}
}

// TestPrefixAtTopOfAddressSpace checks intervals that end at the last
// address, which have no end element.
func TestPrefixAtTopOfAddressSpace(t *testing.T) {
	ns := netnstest.New(t)
	b := newBackend(t, ns)
	k := newKernel(t, ns)
	now := time.Now()
	s := &curfew.Snapshot{At: now, Prefixes: []curfew.PrefixRule{
		{Prefix: netip.MustParsePrefix("255.255.255.0/24"), Enforcement: cut(now.Add(time.Hour), 1)},
		{Prefix: netip.MustParsePrefix("ffff::/16"), Enforcement: cut(now.Add(time.Hour), 2)},
		{Prefix: netip.MustParsePrefix("ffff:ffff::/32"), Enforcement: cut(now.Add(2*time.Hour), 3)},
	}}
	mustApply(t, b, s)
	for a, want := range map[string]bool{
		"255.255.255.255": true, "255.255.255.0": true, "255.255.254.255": false,
		"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff": true, "ffff::1": true, "fffe::1": false,
	} {
		if _, ok, err := k.lookupAddr(t.Context(), netip.MustParseAddr(a)); err != nil || ok != want {
			t.Errorf("lookupAddr(%s) = %v, %v; want %v", a, ok, err, want)
		}
	}
	if n := verifyAll(t, b); n != 0 {
		t.Errorf("Verify repaired %d, want 0", n)
	}
	mustApply(t, b, &curfew.Snapshot{At: now})
	if n := verifyAll(t, b); n != 0 {
		t.Errorf("Verify after lifting repaired %d, want 0", n)
	}
	if rs := ruleset(t, ns); strings.Contains(rs, "ffff") || strings.Contains(rs, "255.255") {
		t.Errorf("elements left after lifting:\n%s", rs)
	}
}

// neighbour is another firewall manager on the same host: it commits an
// unrelated change (an element added to or deleted from a table of its
// own) every interval, on a netlink connection of its own.
type neighbour struct {
	conn    *nftables.Conn
	set     *nftables.Set
	commits atomic.Int64
}

// newNeighbour creates the neighbour's table in ns.
func newNeighbour(tb testing.TB, ns int) *neighbour {
	tb.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(ns))
	if err != nil {
		tb.Fatal(err)
	}
	table := c.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: "neighbour"})
	set := &nftables.Set{Table: table, Name: "blocked", KeyType: nftables.TypeIPAddr}
	if err := c.AddSet(set, nil); err != nil {
		tb.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		tb.Fatalf("creating the neighbour's table: %v", err)
	}
	return &neighbour{conn: c, set: set}
}

// run commits every interval (0: one commit after the other) until ctx
// is done, then returns.
func (n *neighbour) run(ctx context.Context, interval time.Duration) error {
	var tick <-chan time.Time
	if interval > 0 {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	el := []nftables.SetElement{{Key: []byte{192, 0, 2, 1}}}
	for i := 0; ; i++ {
		if tick != nil {
			select {
			case <-ctx.Done():
				return nil
			case <-tick:
			}
		} else if ctx.Err() != nil {
			return nil
		}
		var err error
		if i%2 == 0 {
			err = n.conn.SetAddElements(n.set, el)
		} else {
			err = n.conn.SetDeleteElements(n.set, el)
		}
		if err == nil {
			err = n.conn.Flush()
		}
		if err != nil {
			return fmt.Errorf("neighbour's commit %d: %w", i, err)
		}
		n.commits.Add(1)
	}
}

// start runs n in a goroutine until the test ends.
func (n *neighbour) start(t *testing.T, interval time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.run(ctx, interval) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

// TestVerifyRepairsUnderForeignCommits checks that drift is repaired, and
// nothing else touched, while another firewall manager commits a change
// every millisecond, so that most dumps of the large set straddle a commit
// and may show a half state.
func TestVerifyRepairsUnderForeignCommits(t *testing.T) {
	ns := netnstest.New(t)
	b := newBackendConfig(t, &netfilter.Config{NetNS: ns, Unowned: true}) // the test tampers with the table
	at := time.Now()
	const n = 20_000 // a dump of many chunks, which a commit can fall between
	s := &curfew.Snapshot{At: at}
	for i := range n {
		s.Devices = append(s.Devices, &curfew.DeviceRule{
			MAC: net.HardwareAddr{2, 0xdd, 0, byte(i >> 16), byte(i >> 8), byte(i)}, Enforcement: cut(at.Add(time.Hour), 1)})
	}
	mustApply(t, b, s)
	if got := verifyAll(t, b); got != 0 {
		t.Fatalf("Verify after Apply repaired %d, want 0", got)
	}
	neigh := newNeighbour(t, ns)
	neigh.start(t, time.Millisecond)

	gone, foreign := s.Devices[n/2].MAC, net.HardwareAddr{2, 0xee, 0, 0, 0, 1}
	netnstest.Run(t, ns, "nft", "delete element inet curfew reach_mac { "+gone.String()+" }")
	netnstest.Run(t, ns, "nft", "add element inet curfew reach_mac { "+foreign.String()+" timeout 1h : jump refuse }")
	k := newKernel(t, ns)
	deadline := time.Now().Add(30 * time.Second)
	var repaired, calls int
	for {
		r, err := b.Verify(t.Context())
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		repaired += r
		calls++
		_, haveGone, err := k.lookupMAC(t.Context(), gone)
		if err != nil {
			t.Fatal(err)
		}
		_, haveForeign, err := k.lookupMAC(t.Context(), foreign)
		if err != nil {
			t.Fatal(err)
		}
		if haveGone && !haveForeign {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %d calls of Verify in 30s (%d neighbour's commits), %s is back: %v; %s is gone: %v",
				calls, neigh.commits.Load(), gone, haveGone, foreign, !haveForeign)
		}
	}
	if repaired != 2 {
		t.Errorf("Verify repaired %d, want 2 (one element added back, one deleted)", repaired)
	}
	for range 5 {
		if r, err := b.Verify(t.Context()); err != nil || r != 0 {
			t.Errorf("Verify after the repair = %d, %v; want 0, nil", r, err)
		}
	}
	if neigh.commits.Load() == 0 {
		t.Error("the neighbour committed nothing")
	}
}
