package identify_test

import (
	"net/netip"
	"strings"
	"testing"
	"unicode/utf8"

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

func TestReadLeasesHostnames(t *testing.T) {
	in := "1795000000 02:00:00:00:00:01 10.50.0.11 alice-laptop 01:02:00:00:00:00:01\n" +
		"1795000100 02:00:00:00:00:02 10.50.0.12 * *\n" +
		"1795000200 02:00:00:00:00:03 10.50.0.13 " + strings.Repeat("h", 80) + "\n" +
		"1795000300 02:00:00:00:00:04 10.50.0.14 bad\x01name\n"
	ls, err := identify.ReadLeases(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range ls {
		got = append(got, l.MAC.String()+" "+l.Addr.String()+" ["+l.Hostname+"] ["+l.ClientID+"]")
	}
	want := []string{
		"02:00:00:00:00:01 10.50.0.11 [alice-laptop] [01:02:00:00:00:00:01]",
		"02:00:00:00:00:02 10.50.0.12 [] []",
		"02:00:00:00:00:03 10.50.0.13 [" + strings.Repeat("h", 64) + "] []",
		"02:00:00:00:00:04 10.50.0.14 [] []",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("ReadLeases =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func FuzzReadLeases(f *testing.F) {
	f.Add("1795000000 02:00:00:00:00:01 10.50.0.11 host 01:02\nduid 00:01\n1 2 fd00::1 h d\n")
	f.Add("1 02:00:00:00:00:01 10.0.0.1 \xff\xfe *\n")
	f.Fuzz(func(t *testing.T, in string) {
		ls, err := identify.ReadLeases(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, l := range ls {
			if !l.Addr.Is4() || len(l.MAC) != 6 || len(l.Hostname) > 64 || len(l.ClientID) > 64 ||
				!utf8.ValidString(l.Hostname) || strings.ContainsAny(l.Hostname+l.ClientID, " \t\n\x00") {
				t.Fatalf("ReadLeases(%q) kept %+v", in, l)
			}
		}
	})
}
