//go:build linux

package netfilter_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/curfew/curfew/internal/netnstest"
)

// TestConntrackFlush checks which conntrack entries Apply deletes: those of
// newly restricted devices, found by their known addresses and through the
// neighbour table; and no others. The flows of prefixes stay: their rules
// go by which end opened each flow, which the entries record.
func TestConntrackFlush(t *testing.T) {
	ns := netnstest.New(t)
	for _, args := range [][]string{
		{"link", "add", "name", "d0", "type", "veth", "peer", "name", "d1"},
		{"link", "set", "dev", "d0", "up"},
		{"neigh", "add", "10.9.0.5", "lladdr", macA.String(), "dev", "d0", "nud", "permanent"},
		{"neigh", "add", "fd00:9::5", "lladdr", macA.String(), "dev", "d0", "nud", "permanent"},
		{"neigh", "add", "10.9.0.6", "lladdr", "02:00:00:00:00:0f", "dev", "d0", "nud", "permanent"},
	} {
		netnstest.Run(t, ns, "ip", args...)
	}
	flows := map[string][2]string{ // name → source, destination
		"device by neighbour v4": {"10.9.0.5", "10.2.0.2"},
		"device by neighbour v6": {"fd00:9::5", "fd00:2::2"},
		"device by known addr":   {"192.168.50.20", "10.2.0.2"},
		"prefix as source":       {"10.50.1.1", "10.2.0.2"},
		"prefix as destination":  {"10.9.0.6", "192.0.2.33"},
		"v6 prefix":              {"2001:db8:99::1", "fd00:2::2"},
		"other device":           {"10.9.0.6", "10.2.0.2"},
		"other v6":               {"fd00:9::6", "fd00:2::2"},
	}
	for _, f := range flows {
		netnstest.Run(t, ns, "conntrack", "-I", "-p", "tcp", "-s", f[0], "-d", f[1], "--sport", "1000", "--dport", "80",
			"--state", "ESTABLISHED", "-u", "SEEN_REPLY", "-t", "300")
	}
	b := newBackend(t, ns)
	mustApply(t, b, goldenSnapshot())

	var left []string
	for _, fam := range []string{"ipv4", "ipv6"} {
		for _, line := range strings.Split(netnstest.Run(t, ns, "conntrack", "-L", "-f", fam), "\n") {
			for name, f := range flows {
				if strings.Contains(line, "src="+f[0]+" dst="+f[1]+" ") {
					left = append(left, name)
				}
			}
		}
	}
	slices.Sort(left)
	if want := []string{"other device", "other v6", "prefix as destination", "prefix as source", "v6 prefix"}; !slices.Equal(left, want) {
		t.Errorf("conntrack entries left after Apply = %q, want %q", left, want)
	}
}
