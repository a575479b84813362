package curfew_test

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/curfew/curfew/internal/curfew"
)

func TestParseSubject(t *testing.T) {
	tests := []struct {
		in   string
		want string // canonical form; empty means an error
	}{
		{"device:02:00:00:00:00:01", "device:02:00:00:00:00:01"},
		{"device:02-AB-00-00-00-01", "device:02:ab:00:00:00:01"},
		{"device:0200.0000.0001", "device:02:00:00:00:00:01"},
		{"device:ff:ff:ff:ff:ff:ff", ""},       // broadcast
		{"device:01:00:5e:00:00:01", ""},       // multicast
		{"device:00:00:00:00:00:00", ""},       // zero
		{"device:02:00:00:00:00", ""},          // short
		{"device:02:00:00:00:00:00:00:01", ""}, // EUI-64
		{"device:zz:00:00:00:00:01", ""},       // not hex
		{"person:alice", "person:alice"},
		{"person:Ana-María", ""}, // non-ASCII
		{"person:-alice", ""},    // leading dash
		{"person:", ""},
		{"group:ops", "group:ops"},
		{"ip:10.0.0.5", "ip:10.0.0.5"},
		{"ip:10.0.0.5/32", "ip:10.0.0.5"},
		{"ip:10.0.0.5/24", "ip:10.0.0.0/24"},
		{"ip:::ffff:10.0.0.5", "ip:10.0.0.5"},
		{"ip:2001:DB8::1", "ip:2001:db8::1"},
		{"ip:2001:db8::1/64", "ip:2001:db8::/64"},
		{"ip:0.0.0.0/0", ""},
		{"ip:::/0", ""},
		{"ip:fe80::1%eth0", ""},
		{"ip:10.0.0.256", ""},
		{"ip:10.0.0.0/33", ""},
		{"host:x", ""},
		{"alice", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			s, err := curfew.ParseSubject(tt.in)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("ParseSubject(%q) = %v, want error", tt.in, s)
				}
				if !errors.Is(err, curfew.ErrInvalid) {
					t.Errorf("ParseSubject(%q) error %v does not wrap ErrInvalid", tt.in, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSubject(%q): %v", tt.in, err)
			}
			if got := s.String(); got != tt.want {
				t.Errorf("ParseSubject(%q).String() = %q, want %q", tt.in, got, tt.want)
			}
			again, err := curfew.ParseSubject(s.String())
			if err != nil || again.String() != s.String() {
				t.Errorf("canonical form %q does not round-trip: %v, %v", s, again, err)
			}
		})
	}
}

func TestSubjectCheckNew(t *testing.T) {
	tests := []struct {
		subject string
		force   bool
		wantErr string // substring; empty means accepted
	}{
		{"device:02:00:00:00:00:01", false, ""},
		{"person:alice", false, ""},
		{"ip:192.0.2.7", false, ""},
		{"ip:10.9.0.0/16", false, ""},
		{"ip:10.8.0.0/15", false, "wider than /16: restricting so many addresses needs --force"},
		{"ip:10.8.0.0/15", true, ""},
		{"ip:128.0.0.0/1", true, "holds link-local addresses (169.254.0.0/16)"},
		{"ip:192.0.0.0/3", true, ""},
		{"ip:2001:db8::/48", false, ""},
		{"ip:2001:db8::/47", false, "wider than /48"},
		{"ip:2001:db8::/32", true, ""},
		{"ip:0.0.0.0/8", true, "holds the unspecified address (0.0.0.0/32)"},
		{"ip:0.0.0.0", false, "the unspecified address"},
		{"ip:127.0.0.1", false, "holds loopback addresses (127.0.0.0/8)"},
		{"ip:96.0.0.0/3", true, "loopback"},
		{"ip:169.254.10.0/24", false, "link-local"},
		{"ip:224.0.0.251", false, "holds multicast addresses (224.0.0.0/4)"},
		{"ip:239.0.0.0/8", true, "multicast"},
		{"ip:::", false, "the unspecified address (::/128)"},
		{"ip:::1", false, "holds the loopback address (::1/128)"},
		{"ip:::/64", true, "the unspecified address"},
		{"ip:fe80::1", false, "link-local"},
		{"ip:fe80::/64", false, "link-local"},
		{"ip:ff02::1", false, "multicast"},
		{"ip:8000::/1", true, "link-local"},
		{"ip:2000::/3", true, ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s force=%v", tt.subject, tt.force), func(t *testing.T) {
			s, err := curfew.ParseSubject(tt.subject)
			if err != nil {
				t.Fatal(err)
			}
			err = s.CheckNew(tt.force)
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("CheckNew(%v) = %v, want nil", tt.force, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, curfew.ErrInvalid) {
				t.Errorf("CheckNew(%v) = %v, want ErrInvalid containing %q", tt.force, err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("CheckNew(%v) = %q, want one line", tt.force, err)
			}
		})
	}
}

func TestSubjectCheckGateway(t *testing.T) {
	gateway := []netip.Addr{
		netip.MustParseAddr("192.168.50.1"), netip.MustParseAddr("fd00:50::1"),
		netip.MustParseAddr("::ffff:198.51.100.1"), netip.MustParseAddr("fe80::1%br-lan"),
	}
	tests := []struct {
		subject string
		wantErr string
	}{
		{"person:alice", ""},
		{"ip:192.168.50.0/24", "subject ip:192.168.50.0/24 holds the gateway's own address 192.168.50.1"},
		{"ip:192.168.50.1", "192.168.50.1"},
		{"ip:192.168.50.7", ""},
		{"ip:192.168.50.128/25", ""},
		{"ip:198.51.100.0/24", "198.51.100.1"},
		{"ip:fd00:50::/64", "fd00:50::1"},
		{"ip:fd00:51::/64", ""},
	}
	for _, tt := range tests {
		t.Run(tt.subject, func(t *testing.T) {
			s, err := curfew.ParseSubject(tt.subject)
			if err != nil {
				t.Fatal(err)
			}
			err = s.CheckGateway(gateway)
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("CheckGateway = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, curfew.ErrInvalid) {
				t.Errorf("CheckGateway = %v, want ErrInvalid containing %q", err, tt.wantErr)
			}
		})
	}
}

func FuzzParseSubject(f *testing.F) {
	for _, s := range []string{"device:02:00:00:00:00:01", "person:alice", "ip:10.0.0.0/8", "ip:2001:db8::/48", "group:x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := curfew.ParseSubject(in)
		if err != nil {
			return
		}
		again, err := curfew.ParseSubject(s.String())
		if err != nil || again.String() != s.String() {
			t.Fatalf("ParseSubject(%q) = %q, which parses as %q, %v", in, s, again, err)
		}
	})
}
