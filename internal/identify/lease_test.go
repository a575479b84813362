package identify_test

import (
	"net/netip"
	"strings"
	"testing"

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

func FuzzParseLeases(f *testing.F) {
	f.Add("1795000000 02:00:00:00:00:01 10.50.0.11 host 01:02\nduid 00:01\n1 2 fd00::1 h d\n")
	f.Fuzz(func(t *testing.T, in string) {
		m, err := identify.ParseLeases(strings.NewReader(in))
		if err != nil {
			return
		}
		for a, mac := range m {
			if !a.Is4() || len(mac) != 6 {
				t.Fatalf("ParseLeases(%q) kept %s → %s", in, a, mac)
			}
		}
	})
}
