package identify_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/curfew/curfew/internal/identify"
)

func TestParseLeases(t *testing.T) {
	in := `1795000000 02:00:00:00:00:01 10.50.0.11 alice-laptop 01:02:00:00:00:00:01
1795000100 02:00:00:00:00:02 10.50.0.12 * *

duid 00:01:00:01:2c:1f:aa:bb:02:00:00:00:00:01
1795000200 1234567 fd00:50::11 alice-laptop 00:01:00:01
`
	m, err := identify.ParseLeases(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"10.50.0.11": "02:00:00:00:00:01", "10.50.0.12": "02:00:00:00:00:02"}
	if len(m) != len(want) {
		t.Fatalf("ParseLeases = %v, want %v", m, want)
	}
	for a, mac := range want {
		if got := m[netip.MustParseAddr(a)]; got.String() != mac {
			t.Errorf("lease of %s = %v, want %s", a, got, mac)
		}
	}
	for _, bad := range []string{"1795000000 nope 10.50.0.11 x *\n", "1795000000 02:00:00:00:00:01\n", "1 02:00:00:00:00:01 10.50.0.300 x *\n"} {
		if _, err := identify.ParseLeases(strings.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("ParseLeases(%q) = %v, want an error naming line 1", bad, err)
		}
	}
}

// lease is a Lease written as text, for comparisons.
type lease struct{ MAC, Addr, Hostname, Expires string }

func leases(ls []identify.Lease) []lease {
	var out []lease
	for _, l := range ls {
		exp := ""
		if !l.Expires.IsZero() {
			exp = l.Expires.Format(time.RFC3339)
		}
		out = append(out, lease{l.MAC.String(), l.Addr.String(), l.Hostname, exp})
	}
	return out
}

func TestReadLeases(t *testing.T) {
	tests := []struct {
		name string
		file string
		want []lease
	}{
		{"dnsmasq", `1795000000 02:00:00:00:00:01 10.50.0.11 alice-laptop 01:02:00:00:00:00:01
1795000100 02:00:00:00:00:02 10.50.0.12 * *
duid 00:01:00:01:2c:1f:aa:bb:02:00:00:00:00:01
1795000200 1234567 fd00:50::11 alice-laptop 00:01:00:01
`, []lease{
			{"02:00:00:00:00:01", "10.50.0.11", "alice-laptop", "2026-11-18T11:06:40Z"},
			{"02:00:00:00:00:02", "10.50.0.12", "", "2026-11-18T11:08:20Z"},
		}},
		{"ISC dhcpd", `# The format of this file is documented in the dhcpd.leases(5) manual page.
# This lease file was written by isc-dhcp-4.4.3
authoring-byte-order little-endian;

server-duid "\000\001\000\001";

lease 10.50.0.21 {
  starts 2 2026/12/01 10:00:00;
  ends 2 2026/12/01 22:00:00;
  cltt 2 2026/12/01 10:00:00;
  binding state active;
  next binding state free;
  rewind binding state free;
  hardware ethernet 02:00:00:00:00:21;
  uid "\001\002\000\000\000\000!";
  client-hostname "bob-phone";
}
lease 10.50.0.22 {
  starts 2 2026/12/01 10:00:00;
  ends 2 2026/12/01 11:00:00;
  binding state active;
  hardware ethernet 02:00:00:00:00:22;
}
lease 10.50.0.22 {
  starts 2 2026/12/01 11:00:00;
  ends 2 2026/12/01 11:00:00;
  binding state free;
  hardware ethernet 02:00:00:00:00:22;
}
lease 10.50.0.21 {
  starts 2 2026/12/01 12:00:00;
  ends 2 2026/12/02 00:00:00;
  binding state active;
  hardware ethernet 02:00:00:00:00:21;
  client-hostname "bob-phone";
}
ia-na "\001\000\000\000" {
  cltt 2 2026/12/01 10:00:00;
  iaaddr fd00:50::21 {
    binding state active;
  }
}
`, []lease{{"02:00:00:00:00:21", "10.50.0.21", "bob-phone", "2026-12-02T00:00:00Z"}}},
		{"Kea DHCPv4", `address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context,pool_id
10.50.0.31,02:00:00:00:00:31,01:02:00:00:00:00:31,3600,1795000000,1,0,0,carol-tablet,0,,0
10.50.0.32,02:00:00:00:00:32,,3600,1795000000,1,0,0,dave&#x2c laptop,0,,0
10.50.0.33,02:00:00:00:00:33,,3600,1795000000,1,0,0,,0,,0
10.50.0.33,02:00:00:00:00:33,,0,1795000000,1,0,0,,0,,0
10.50.0.34,02:00:00:00:00:34,,3600,1795000000,1,0,0,,1,,0
`, []lease{
			{"02:00:00:00:00:31", "10.50.0.31", "carol-tablet", "2026-11-18T11:06:40Z"},
			{"02:00:00:00:00:32", "10.50.0.32", "dave,laptop", "2026-11-18T11:06:40Z"},
		}},
		{"Kea DHCPv6", `address,duid,valid_lifetime,expire,subnet_id,pref_lifetime,lease_type,iaid,prefix_len,fqdn_fwd,fqdn_rev,hostname,hwaddr,state,user_context,hwtype,hwaddr_source,pool_id
fd00:50::41,00:01:00:01:2c:1f:aa:bb:02:00:00:00:00:41,3600,1795000000,1,1800,0,1,128,0,0,erin-pc,02:00:00:00:00:41,0,,1,2,0
fd00:50::42,00:01:00:01:2c:1f:aa:bb:02:00:00:00:00:42,3600,1795000000,1,1800,0,1,128,0,0,,,0,,1,0,0
`, []lease{{"02:00:00:00:00:41", "fd00:50::41", "erin-pc", "2026-11-18T11:06:40Z"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ls, err := identify.ReadLeases(strings.NewReader(tt.file))
			if err != nil {
				t.Fatalf("ReadLeases: %v", err)
			}
			if diff := cmp.Diff(tt.want, leases(ls)); diff != "" {
				t.Errorf("ReadLeases (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadLeasesErrors(t *testing.T) {
	for _, tt := range []struct{ name, file, want string }{
		{"ISC bad MAC", "lease 10.0.0.1 {\n  hardware ethernet zz;\n}\n", "lease line 2: MAC \"zz\""},
		{"ISC unclosed", "lease 10.0.0.1 {\n  binding state active;\n", "lease line 1: the lease block is not closed"},
		{"ISC bad address", "lease 10.0.0.300 {\n}\n", "lease line 1: address \"10.0.0.300\" is not an IPv4 address"},
		{"Kea bad address", "address,hwaddr\n10.0.0.1,02:00:00:00:00:01\nnope,02:00:00:00:00:01\n", "lease line 3: address \"nope\" is not an IP address"},
		{"Kea no hwaddr column", "address,duid\n", "lease line 1: the header has no \"hwaddr\" column"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := identify.ReadLeases(strings.NewReader(tt.file))
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("ReadLeases = %v, want an error starting %q", err, tt.want)
			}
		})
	}
}

func FuzzReadLeases(f *testing.F) {
	f.Add("1795000000 02:00:00:00:00:01 10.50.0.11 host 01:02\nduid 00:01\n1 2 fd00::1 h d\n")
	f.Add("lease 10.0.0.1 {\n  hardware ethernet 02:00:00:00:00:01;\n  client-hostname \"a\\\"b\";\n  binding state active;\n}\nia-na \"x\" {\n iaaddr ::1 {\n }\n}\n")
	f.Add("address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state\n10.0.0.1,02:00:00:00:00:01,,3600,1,1,0,0,h&#x2c,0\n\"a\nb\",x\n")
	f.Fuzz(func(t *testing.T, in string) {
		ls, err := identify.ReadLeases(strings.NewReader(in))
		if err != nil {
			return
		}
		seen := map[netip.Addr]bool{}
		for _, l := range ls {
			if !l.Addr.IsValid() || l.Addr.Is4In6() || len(l.MAC) != 6 || seen[l.Addr] {
				t.Fatalf("ReadLeases(%q) kept %+v", in, l)
			}
			if strings.ContainsFunc(l.Hostname, func(r rune) bool { return r <= ' ' || r >= 0x7f }) || len(l.Hostname) > 63 {
				t.Fatalf("ReadLeases(%q) kept hostname %q", in, l.Hostname)
			}
			seen[l.Addr] = true
		}
		m, err := identify.ParseLeases(strings.NewReader(in))
		if err != nil {
			t.Fatalf("ParseLeases failed where ReadLeases did not: %v", err)
		}
		for a := range m {
			if !a.Is4() {
				t.Fatalf("ParseLeases(%q) kept %s", in, a)
			}
		}
	})
}
