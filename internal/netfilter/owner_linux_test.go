//go:build linux

package netfilter_test

import (
	"strings"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/netfilter"
	"github.com/curfew/curfew/internal/netnstest"
)

// TestOwnedTable checks what the owner and persist flags give curfew's
// table: another process's `nft flush ruleset`, and Debian's default
// nftables.conf, which begins with one, leave it and its elements as they
// are, with no repair; another process can neither delete nor change it;
// and a second curfew in the namespace is refused with a message that
// says why. Without the flags (Unowned), the same flush deletes it.
func TestOwnedTable(t *testing.T) {
	ns := netnstest.New(t)
	b := newBackend(t, ns)
	mac := []byte{2, 0, 0, 0, 1, 1}
	mustApply(t, b, cutDevice(mac, time.Hour))
	want := shape(t, ns)
	if !strings.Contains(want, "02:00:00:01:01") && !strings.Contains(want, "02:00:00:00:01:01") {
		t.Fatalf("ruleset after Apply lacks the device:\n%s", want)
	}
	for _, cmd := range [][]string{
		{"flush", "ruleset"},
		{"-f", "testdata/debian-nftables.conf"},
		{"-f", "testdata/gateway-nftables.conf"},
	} {
		netnstest.Run(t, ns, "nft", cmd...)
		got := shape(t, ns)
		if i := strings.Index(got, "table inet curfew"); i < 0 || !strings.Contains(got[i:], want[strings.Index(want, "table inet curfew"):]) {
			t.Errorf("after nft %s the ruleset is\n%s\nwant it to hold curfew's table as it was:\n%s", strings.Join(cmd, " "), got, want)
		}
	}
	for _, cmd := range []string{
		"delete table inet curfew",
		"flush table inet curfew",
		"delete element inet curfew reach_mac { 02:00:00:00:01:01 }",
		"add rule inet curfew forward accept",
	} {
		if _, err := netnstest.Output(ns, "nft", cmd); err == nil || !strings.Contains(err.Error(), "Operation not permitted") {
			t.Errorf("nft %s by another process = %v, want Operation not permitted", cmd, err)
		}
	}

	second := newBackend(t, ns)
	err := second.Apply(t.Context(), cutDevice(mac, time.Hour))
	if err == nil || !strings.Contains(err.Error(), "another curfew daemon") {
		t.Errorf("Apply of a second backend in the namespace = %v, want it refused as another curfew daemon's table", err)
	}
	if got := shape(t, ns); !strings.Contains(got, want[strings.Index(want, "table inet curfew"):]) {
		t.Errorf("after the second backend's Apply the ruleset is\n%s", got)
	}

	unowned := netnstest.New(t)
	u := newBackendConfig(t, &netfilter.Config{NetNS: unowned, Unowned: true})
	mustApply(t, u, cutDevice(mac, time.Hour))
	netnstest.Run(t, unowned, "nft", "flush", "ruleset")
	if got := ruleset(t, unowned); strings.Contains(got, "table inet curfew") {
		t.Errorf("without the owner flags, nft flush ruleset left the table:\n%s", got)
	}
}

// TestBesideHandWrittenFirewall loads a hand-written gateway firewall
// (testdata/gateway-nftables.conf: input and forward dropped by default,
// the LAN allowed out, established flows accepted) over a running curfew,
// as `systemctl reload nftables` does: its flush ruleset leaves curfew's
// table, whose forward chain, at priority filter - 10, refuses the cut-off
// client with a reset before the host's chains accept its flow, while the
// other client goes out through the host's rules; after the lift, the
// host's rules alone decide.
func TestBesideHandWrittenFirewall(t *testing.T) {
	l := newLab(t)
	mustApply(t, l.b, cutDevice(l.mac1, time.Hour))
	netnstest.Run(t, l.gw, "nft", "-f", "testdata/gateway-nftables.conf")
	for _, f := range families {
		mustBeRefused(t, "client 1 over "+f.name, l.client1, f.upstream)
		mustConnect(t, "client 2 over "+f.name, l.client2, f.upstream)
	}
	mustApply(t, l.b, &curfew.Snapshot{At: time.Now()})
	for _, f := range families {
		mustConnect(t, "client 1 over "+f.name+" after the lift", l.client1, f.upstream)
	}
}
