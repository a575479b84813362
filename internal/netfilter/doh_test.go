package netfilter_test

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/curfew/curfew/internal/netfilter"
)

func TestParseDoH(t *testing.T) {
	got, err := netfilter.ParseDoH(strings.NewReader("# comment\n\n 9.9.9.9 # quad9\n2620:fe::fe\n::ffff:1.1.1.1\n9.9.9.9\n"))
	if err != nil {
		t.Fatalf("ParseDoH: %v", err)
	}
	want := []netip.Addr{netip.MustParseAddr("1.1.1.1"), netip.MustParseAddr("9.9.9.9"), netip.MustParseAddr("2620:fe::fe")}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("ParseDoH (-want +got):\n%s", diff)
	}
}

func TestParseDoHErrors(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want string
	}{
		{"1.1.1.1\n8.8.8.8/32\n", `line 2: parsing address "8.8.8.8/32"`},
		{"\n\n\ndns.google\n", `line 4: parsing address "dns.google"`},
		{"fe80::1%eth0\n", `line 1: address "fe80::1%eth0" has a zone`},
		{strings.Repeat("1", 5000), "reading list"},
	} {
		_, err := netfilter.ParseDoH(strings.NewReader(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseDoH(%.20q) = %v, want an error containing %q", tt.in, err, tt.want)
		}
	}
}

// TestDefaultDoH checks that the shipped list parses and covers the
// well-known resolvers of both families.
func TestDefaultDoH(t *testing.T) {
	got := netfilter.DefaultDoH()
	for _, a := range []string{"1.1.1.1", "8.8.8.8", "9.9.9.9", "94.140.14.14", "208.67.222.222", "185.228.168.9", "45.90.28.0",
		"2606:4700:4700::1111", "2001:4860:4860::8888", "2620:fe::fe", "2a10:50c0::ad1:ff", "2620:119:35::35"} {
		if !slices.Contains(got, netip.MustParseAddr(a)) {
			t.Errorf("DefaultDoH() lacks %s", a)
		}
	}
}

func FuzzParseDoH(f *testing.F) {
	f.Add("1.1.1.1\n# c\n2606:4700:4700::1111 # x\n")
	f.Add("::ffff:1.2.3.4\n\n")
	f.Add("fe80::1%eth0")
	f.Fuzz(func(t *testing.T, in string) {
		addrs, err := netfilter.ParseDoH(strings.NewReader(in))
		if err != nil {
			return
		}
		// Whatever parses prints back into a list that parses the same.
		var b strings.Builder
		for _, a := range addrs {
			if !a.IsValid() || a.Is4In6() || a.Zone() != "" {
				t.Fatalf("ParseDoH returned %v", a)
			}
			b.WriteString(a.String() + "\n")
		}
		again, err := netfilter.ParseDoH(strings.NewReader(b.String()))
		if err != nil || !slices.Equal(again, addrs) {
			t.Fatalf("reparsing %q = %v, %v; want %v", b.String(), again, err, addrs)
		}
	})
}
