//go:build integration

package integration

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/api"
	"github.com/curfew/curfew/internal/lab"
)

// TestDevicesShowLeases runs the gateway with the lease files of the
// three DHCP servers a gateway is likely to have (dnsmasq, ISC dhcpd, Kea)
// and checks that `curfew devices` shows, for each registered device, the
// addresses and the hostname its lease gives, IPv4 and (where the server
// records the MAC, as Kea does) IPv6, and follows a lease file that
// changes while the daemon runs.
func TestDevicesShowLeases(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	macs := make([]string, lab.NumClients)
	for i := range macs {
		macs[i] = net.HardwareAddr{0x02, 0xc0, 0xff, 0xee, 0x00, byte(i + 1)}.String() // as the lab gives its clients
	}
	files := map[string]string{
		"dnsmasq.leases": fmt.Sprintf("%d %s 10.50.0.111 alice-laptop 01:%s\n", time.Now().Add(time.Hour).Unix(), macs[0], macs[0]),
		"dhcpd.leases": fmt.Sprintf(`authoring-byte-order little-endian;
lease 10.50.0.112 {
  starts 2 2026/12/01 10:00:00;
  ends 2 2099/12/01 22:00:00;
  binding state active;
  hardware ethernet %s;
  client-hostname "bob-phone";
}
`, macs[1]),
		"kea-leases4.csv": "address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context,pool_id\n" +
			fmt.Sprintf("10.50.0.113,%s,,3600,%d,1,0,0,carol-tablet,0,,0\n", macs[2], time.Now().Add(time.Hour).Unix()),
		"kea-leases6.csv": "address,duid,valid_lifetime,expire,subnet_id,pref_lifetime,lease_type,iaid,prefix_len,fqdn_fwd,fqdn_rev,hostname,hwaddr,state,user_context,hwtype,hwaddr_source,pool_id\n" +
			fmt.Sprintf("fd00:50::113,00:01:00:01:2c:1f:aa:bb:%s,3600,%d,1,1800,0,1,128,0,0,carol-tablet,%s,0,,1,2,0\n", macs[2], time.Now().Add(time.Hour).Unix(), macs[2]),
	}
	var paths []string
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	slices.Sort(paths)
	g := newGatewayWith(t, lab.Config{DHCPLeases: paths})
	for i, mac := range macs {
		g.mustCurfew("device", "add", mac, "--name", fmt.Sprintf("client %d", i+1))
	}

	want := map[string]struct {
		hostname string
		addrs    []string
	}{
		macs[0]: {"alice-laptop", []string{"10.50.0.111"}},
		macs[1]: {"bob-phone", []string{"10.50.0.112"}},
		macs[2]: {"carol-tablet", []string{"10.50.0.113", "fd00:50::113"}},
	}
	check := func() []string {
		var ds []api.Device
		if err := json.Unmarshal([]byte(g.mustCurfew("devices", "-o", "json")), &ds); err != nil {
			t.Fatal(err)
		}
		var wrong []string
		for _, d := range ds {
			w := want[d.MAC]
			missing := slices.DeleteFunc(slices.Clone(w.addrs), func(a string) bool { return slices.Contains(d.Learned, a) })
			if d.Hostname != w.hostname || len(missing) > 0 {
				wrong = append(wrong, fmt.Sprintf("%s: hostname %q, learned %v; want %q and %v among them", d.MAC, d.Hostname, d.Learned, w.hostname, w.addrs))
			}
		}
		return wrong
	}
	if _, ok := waitUntil(10*time.Second, 50*time.Millisecond, func() bool { return len(check()) == 0 }); !ok {
		t.Fatalf("curfew devices -o json after 10s:\n%s", strings.Join(check(), "\n"))
	}
	table := g.mustCurfew("devices")
	for _, s := range []string{"alice-laptop", "bob-phone", "carol-tablet", "10.50.0.111", "fd00:50::113"} {
		if !strings.Contains(table, s) {
			t.Errorf("curfew devices does not show %s:\n%s", s, table)
		}
	}

	// dnsmasq renews alice's lease with another address and name.
	renewed := fmt.Sprintf("%d %s 10.50.0.121 alice-new 01:%s\n", time.Now().Add(2*time.Hour).Unix(), macs[0], macs[0])
	if err := os.WriteFile(filepath.Join(dir, "dnsmasq.leases"), []byte(renewed), 0o644); err != nil {
		t.Fatal(err)
	}
	want[macs[0]] = struct {
		hostname string
		addrs    []string
	}{"alice-new", []string{"10.50.0.121"}}
	if _, ok := waitUntil(10*time.Second, 50*time.Millisecond, func() bool { return len(check()) == 0 }); !ok {
		t.Errorf("curfew devices -o json 10s after the lease file changed:\n%s", strings.Join(check(), "\n"))
	}
}
