package config_test

import (
	"fmt"
	"io/fs"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/curfew/curfew/internal/config"
)

// machine is a Machine with the given interfaces and files.
func machine(ifaces map[string][]string, files map[string]string) config.Machine {
	return config.Machine{
		InterfaceAddrs: func(name string) ([]netip.Addr, error) {
			addrs, ok := ifaces[name]
			if !ok {
				return nil, fmt.Errorf("route ip+net: no such network interface")
			}
			var out []netip.Addr
			for _, a := range addrs {
				out = append(out, netip.MustParseAddr(a))
			}
			return out, nil
		},
		ReadFile: func(path string) ([]byte, error) {
			s, ok := files[path]
			if !ok {
				return nil, &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
			}
			return []byte(s), nil
		},
	}
}

// gateway is a machine with br-lan, as the shipped configuration expects.
var gateway = machine(map[string][]string{
	"br-lan": {"fe80::1", "192.168.1.1", "192.168.2.1", "fd00:1::1", "2001:db8:1::1"},
	"eth0":   {"203.0.113.7"},
}, map[string]string{
	config.ResolvConf: "# from DHCP\nsearch lan\nnameserver 192.168.1.1\nnameserver 203.0.113.53\noptions edns0\nnameserver 2001:db8::53\n",
})

func TestSettleFindsAddresses(t *testing.T) {
	c, err := config.Parse(strings.NewReader("lan:\n  interfaces: [br-lan]\nwan:\n  interfaces: [eth0]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Settle(gateway); err != nil {
		t.Fatalf("Settle: %v", err)
	}
	want := config.Config{
		LAN: config.LAN{Interfaces: []string{"br-lan"}, Address: netip.MustParseAddr("192.168.1.1"), Address6: netip.MustParseAddr("fd00:1::1")},
		DNS: config.DNS{
			Listen: netip.MustParseAddrPort("192.168.1.1:53"),
			// The gateway's own address is curfew: it is left out.
			Upstreams:       []netip.AddrPort{netip.MustParseAddrPort("203.0.113.53:53"), netip.MustParseAddrPort("[2001:db8::53]:53")},
			SystemResolvers: true,
		},
		Notice: config.Notice{Listen: netip.MustParseAddrPort("192.168.1.1:8480")},
	}
	got := config.Config{LAN: c.LAN, DNS: c.DNS, Notice: config.Notice{Listen: c.Notice.Listen}}
	if diff := cmp.Diff(want, got, addrOpts); diff != "" {
		t.Errorf("settled config (-want +got):\n%s", diff)
	}
}

func TestSettleKeepsWhatTheFileSays(t *testing.T) {
	c, err := config.Parse(strings.NewReader(`
lan:
  interfaces: [br-lan]
  address: 192.168.2.1
  address6: 2001:db8:1::1
wan:
  interfaces: [eth0]
dns:
  upstreams: [10.0.0.53]
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Settle(gateway); err != nil {
		t.Fatalf("Settle: %v", err)
	}
	if c.LAN.Address != netip.MustParseAddr("192.168.2.1") || c.LAN.Address6 != netip.MustParseAddr("2001:db8:1::1") {
		t.Errorf("LAN = %+v, want the addresses the file gives", c.LAN)
	}
	if want := []netip.AddrPort{netip.MustParseAddrPort("10.0.0.53:53")}; !cmp.Equal(want, c.DNS.Upstreams, addrOpts) || c.DNS.SystemResolvers {
		t.Errorf("DNS = %+v, want the file's upstreams only", c.DNS)
	}
}

func TestSettleSystemdResolved(t *testing.T) {
	stub := "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n"
	for _, tt := range []struct {
		name     string
		resolved string // ResolvedConf; "" if absent
		want     string
	}{
		{"resolved's own list", "nameserver 198.51.100.53\nnameserver 198.51.100.54\n", "198.51.100.53:53 198.51.100.54:53"},
		{"no list of its own: the stub", "", "127.0.0.53:53"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{config.ResolvConf: stub}
			if tt.resolved != "" {
				files[config.ResolvedConf] = tt.resolved
			}
			c, err := config.Parse(strings.NewReader(minimal))
			if err != nil {
				t.Fatal(err)
			}
			m := machine(map[string][]string{"br-lan": {"192.168.50.1"}}, files)
			if err := c.Settle(m); err != nil {
				t.Fatalf("Settle: %v", err)
			}
			var got []string
			for _, u := range c.DNS.Upstreams {
				got = append(got, u.String())
			}
			if strings.Join(got, " ") != tt.want {
				t.Errorf("upstreams = %v, want %s", got, tt.want)
			}
		})
	}
}

// TestSettleErrors checks that what the machine lacks is reported on one
// line naming the key, the value and what to do, and changes nothing.
func TestSettleErrors(t *testing.T) {
	lanOnly := func(addrs ...string) map[string][]string { return map[string][]string{"br-lan": addrs} }
	resolv := map[string]string{config.ResolvConf: "nameserver 198.51.100.53\n"}
	tests := []struct {
		name   string
		file   string
		ifaces map[string][]string
		files  map[string]string
		want   string
	}{
		{"interface missing", minimal, map[string][]string{"eth1": nil}, resolv,
			"lan.interfaces: \"br-lan\" does not exist on this machine; create it or list the interface the clients are behind (see `ip link`)"},
		{"no IPv4 on the lan", "lan:\n  interfaces: [br-lan]\nwan:\n  interfaces: [eth0]\n", lanOnly("fe80::1"), resolv,
			"lan.address: not set, and br-lan has no IPv4 address; give it one (ip addr add 192.168.50.1/24 dev br-lan) or set lan.address"},
		{"address absent", minimal, lanOnly("10.0.0.1", "10.0.1.1"), resolv,
			"lan.address: 192.168.50.1 is not an address of br-lan (it has 10.0.0.1, 10.0.1.1); set lan.address to one of them, or leave it out to use the first"},
		{"address6 absent", strings.Replace(minimal, "wan:", "  address6: fd00:50::1\nwan:", 1), lanOnly("192.168.50.1", "fe80::1"), resolv,
			"lan.address6: fd00:50::1 is not an address of br-lan, which has none; set lan.address6 to one of them, or leave it out to use the first"},
		{"no resolv.conf", minimal, lanOnly("192.168.50.1"), nil,
			`dns.upstreams: empty, so curfew forwards to the system's resolvers, but /etc/resolv.conf cannot be read (file does not exist); list the resolvers to forward to, such as ["192.0.2.53"]`},
		{"resolv.conf names curfew", minimal, lanOnly("192.168.50.1"), map[string]string{config.ResolvConf: "nameserver 192.168.50.1\n"},
			`dns.upstreams: empty, so curfew forwards to the system's resolvers, but /etc/resolv.conf names none besides curfew itself; list the resolvers to forward to, such as ["192.0.2.53"]`},
		{"doh list missing", minimal + "dns:\n  doh_list: /etc/curfew/doh.txt\n", lanOnly("192.168.50.1"), resolv,
			"dns.doh_list: /etc/curfew/doh.txt does not exist; create it (one address per line, # comments) or remove the key to use the list curfew carries"},
		{"api on the found address", "lan:\n  interfaces: [br-lan]\nwan:\n  interfaces: [eth0]\napi:\n  listen: 192.168.50.1:8470\n", lanOnly("192.168.50.1"), resolv,
			"api.listen: 192.168.50.1:8470 is on the LAN address, so controlled clients could reach the admin API; use a management address such as 127.0.0.1:8470, or set api.allow_lan: true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Parse(strings.NewReader(tt.file))
			if err != nil {
				t.Fatal(err)
			}
			before := *c
			err = c.Settle(machine(tt.ifaces, tt.files))
			if err == nil {
				t.Fatalf("Settle succeeded, want %q", tt.want)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("Settle error =\n%q\nwant\n%q", got, tt.want)
			}
			if diff := cmp.Diff(before, *c, addrOpts); diff != "" {
				t.Errorf("a failed Settle changed the config (-before +after):\n%s", diff)
			}
		})
	}
}

func TestParseResolvConf(t *testing.T) {
	in := "nameserver 10.0.0.1\nnameserver   fe80::1%eth0\n#nameserver 10.0.0.9\nnameserver not-an-address\nnameserver ::ffff:10.0.0.2\nnameserver 10.0.0.1\ndomain lan\n"
	var got []string
	for _, a := range config.ParseResolvConf([]byte(in)) {
		got = append(got, a.String())
	}
	if want := []string{"10.0.0.1", "fe80::1%eth0", "10.0.0.2"}; !cmp.Equal(want, got) {
		t.Errorf("ParseResolvConf = %v, want %v", got, want)
	}
}

func FuzzParseResolvConf(f *testing.F) {
	f.Add("nameserver 10.0.0.1\nnameserver fe80::1%eth0\noptions ndots:2\n")
	f.Add("nameserver\n\x00nameserver ::ffff:1.2.3.4\r\n")
	f.Fuzz(func(t *testing.T, in string) {
		seen := map[netip.Addr]bool{}
		for _, a := range config.ParseResolvConf([]byte(in)) {
			if !a.IsValid() || a.Is4In6() || seen[a] {
				t.Fatalf("ParseResolvConf(%q) returned %v", in, a)
			}
			seen[a] = true
		}
	})
}
